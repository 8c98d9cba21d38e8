"""Glue crawler specs as data, and the schema rules a crawl applies."""
