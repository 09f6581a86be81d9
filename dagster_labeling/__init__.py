"""Data-labeling and model-tuning platforms as first-class Dagster citizens."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dagster-labeling")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
