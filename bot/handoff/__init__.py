"""A person takes over a chat: the handoff's lifecycle, the conversation's mode, canned
replies, and the audit log of what staff do. Used by the pipeline (a user asks for a
person, ends it, rates it) and by the staff console (take, reply, transfer, hand back)."""
