"""Push ingestion and the user lookup (AWS role: API Gateway -> Lambda -> Kinesis ->
consumer Lambda -> DynamoDB).

Layered like ``ingest_lambda``: imports only ``contracts``, ``ingest_lambda`` (the pull
path's validation, scrubbing and quarantine, reused as they are) and itself.
"""
