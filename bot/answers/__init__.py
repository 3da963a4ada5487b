"""Policy answers: the answer store, its validator, status for editors, office facts, rendering."""
