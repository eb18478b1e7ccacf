"""Example configuration and the message schemas (a data package: nothing to import)."""
