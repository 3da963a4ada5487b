"""The registry of residents, merchant cards and visas, which the project does not own:
it is imported from the immigration service's files (bot.records.registry.importer)."""
