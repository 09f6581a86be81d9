"""The ``dagster-labeling`` command line: ``emulate`` and ``callbacks serve``."""

import click

from dagster_labeling.callbacks.cli import callbacks_group
from dagster_labeling.testing.cli import emulate_command


@click.group()
@click.version_option(package_name="dagster-labeling", prog_name="dagster-labeling")
def main() -> None:
    """dagster-labeling: run the local platform emulator or the callbacks receiver."""


main.add_command(emulate_command)
main.add_command(callbacks_group)
