"""local_aws package."""
