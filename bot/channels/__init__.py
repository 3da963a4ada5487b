"""Channel adapters: each turns its platform's updates into bot.messages.Inbound and
renders bot.messages.Outbound for its platform. The core (bot.pipeline.assistant) is shared."""
