"""The door out: the outbox, shared rate limits, and one ``deliver`` per channel."""
