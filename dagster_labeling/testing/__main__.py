"""``python -m dagster_labeling.testing`` runs the ``emulate`` command."""

from dagster_labeling.testing.cli import emulate_command

if __name__ == "__main__":
    emulate_command(prog_name="python -m dagster_labeling.testing")
