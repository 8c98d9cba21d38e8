"""Athena twin."""
