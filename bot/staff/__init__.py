"""The staff console: accounts and roles, login and sessions, and the web pages where
staff answer users (bot.staff.console). The handoff itself is bot.handoff."""
