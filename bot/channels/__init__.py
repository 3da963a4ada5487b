"""Channel adapters: each turns its platform's updates into bot.messages.Inbound for the
pipeline (bot.pipeline.assistant), and delivers what the outbox holds for its users its
own way (bot.delivery): Telegram pushes, the web chat's page and the terminal collect."""
