"""Twins of the push path: API Gateway, Kinesis, DynamoDB and the stream's readers."""
