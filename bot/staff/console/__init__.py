"""The staff console, served by the gateway under /staff (bot.staff.console.pages)."""
