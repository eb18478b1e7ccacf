"""The demo page and its vendored client libraries (a data package: nothing to import)."""
