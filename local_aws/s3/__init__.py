"""S3 twin: the object store and the S3 API over it."""
