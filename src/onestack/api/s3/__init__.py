"""The S3-compatible API: buckets are the project's Swift containers."""
