"""The project's definitions: every folder under ``defs/`` is one component, loaded by dg's own loader."""

from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
