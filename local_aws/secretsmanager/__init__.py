"""Secrets Manager twin."""
