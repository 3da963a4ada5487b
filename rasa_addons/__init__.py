"""The only project code that runs inside the Rasa server (Python 3.10, .venv-rasa).

normalise.py is pure standard library, so that the gateway (Python 3.11) and the
evaluation command apply exactly the same text normalisation as the model does;
components.py holds the NLU components that config.yml names, and imports only Rasa,
scikit-learn, normalise.py and entities.py. entities.py and words.py (the words matched
in what users type, locales/<lang>/words.yml) need only the standard library and PyYAML,
and are shared with the gateway and the actions, which pass their settings' locales
directory. Nothing here imports bot/.
"""
