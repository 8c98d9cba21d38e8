"""Glue job scripts: the only files that import awsglue. Never imported locally."""
