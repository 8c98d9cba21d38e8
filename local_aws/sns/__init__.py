"""SNS twin."""
