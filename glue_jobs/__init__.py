"""The two Glue jobs (PySpark transform, warehouse bulk import), their ports and AWS adapters."""
