"""The handlers of the inbound chain, one rule each; their order is bot.pipeline.chain."""
