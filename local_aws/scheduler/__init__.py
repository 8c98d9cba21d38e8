"""EventBridge Scheduler twin for ingest."""
