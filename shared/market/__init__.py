"""Market data shared by the API and the import scripts: instrument files."""
