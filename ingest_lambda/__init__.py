"""ingest_lambda package."""
