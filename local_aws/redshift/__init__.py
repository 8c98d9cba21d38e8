"""Local twin of Amazon Redshift: the PostgreSQL adapter of the warehouse port, the binary
COPY encoder and the proxy that lets ``redshift_connector`` reach PostgreSQL. The
embedded server itself is ``local_aws.redshift.warehouse``."""
