"""Swift-compatible object storage: accounts, containers, objects and their middleware."""
