"""Swift v1 object storage API."""
