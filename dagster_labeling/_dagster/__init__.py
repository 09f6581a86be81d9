"""Dagster-facing pieces shared by every platform: resource config, waiting, metadata, naming."""
