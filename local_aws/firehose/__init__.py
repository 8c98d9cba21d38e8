"""Kinesis Data Firehose twin."""
