"""The ingest Lambda: fetch user-data pages, validate and scrub them, deliver to Firehose."""

METRICS_NAMESPACE = "udp"
"""CloudWatch namespace of the function's metrics: the handler, the function's
``POWERTOOLS_METRICS_NAMESPACE`` and its ``cloudwatch:namespace`` IAM condition all
read this one name (``infra/stack.py``)."""

SERVICE_NAME = "udp-ingest"
"""Powertools service name (the ``service`` dimension and log field)."""
