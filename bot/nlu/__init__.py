"""Language identification, the Rasa model's training and evaluation."""
