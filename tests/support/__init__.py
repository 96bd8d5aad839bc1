"""Helpers shared by unit, integration and end-to-end tests (no fixtures, no Dagster processes)."""
