"""DynamoDB twin."""
