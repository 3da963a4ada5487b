"""The door in: the inbox, the ordered chain of handlers, and what they need."""
