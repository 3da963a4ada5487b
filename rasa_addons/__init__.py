"""The only project code that runs inside the Rasa server (Python 3.10, .venv-rasa).

normalise.py is pure standard library, so that the gateway (Python 3.11) and the
evaluation command apply exactly the same text normalisation as the model does;
components.py holds the NLU components that config.yml names, and imports only Rasa,
scikit-learn and normalise.py.
"""
