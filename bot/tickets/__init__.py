"""Dispute tickets: a complaint filed in chat, worked by staff, followed by the user.

- ``numbers``: the ticket number users read out at a counter (YW-2026-000123);
- ``lifecycle``: the statuses and the changes allowed between them, written once;
- ``tickets``: the data functions (draft, submit, own tickets, staff work, events);
- ``evidence``: photos and documents, checked by content, stored under their hash;
- ``amounts``: the amount at stake as users type it ("5万", "2,500.50 USD");
- ``notify``: what the user is told of each change, through the outbox.
"""
