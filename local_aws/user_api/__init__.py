"""Twin of the user-data API the ingest Lambda pages through."""
