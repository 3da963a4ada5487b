"""A user's own records: the registry, linking and its lockout, references for numbers."""
