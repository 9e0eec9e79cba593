"""The S3 dialect over the object store: signatures, EC2 credentials, multipart uploads."""
