"""Running the assistant: the command line, process supervision, ports, demo data."""
