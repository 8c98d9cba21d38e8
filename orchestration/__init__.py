"""Step Functions definitions (nightly, range backfill), schedules and backfill planning."""
