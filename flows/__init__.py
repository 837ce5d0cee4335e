"""Prefect flows (thin), the ``fairway`` CLI and settings assembly."""
