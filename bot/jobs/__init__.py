"""Scheduled jobs: reminders, staff alerts, the sweeper of unanswered messages, the worker."""
