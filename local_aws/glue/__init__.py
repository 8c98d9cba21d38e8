"""Local twin of AWS Glue: Data Catalog, partition expressions, crawlers, job runs and
the Spark runtime the jobs get locally."""
