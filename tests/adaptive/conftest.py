"""Adaptive ML tests: the emulator fixtures (``emulator_server``, ``adaptive_emulator``) come from the plugin
enabled in ``tests/conftest.py`` (``pytest_plugins = ["dagster_labeling.testing.pytest_plugin"]``); pytest only
honours ``pytest_plugins`` in the top-level conftest.

Importing ``adaptive_sdk`` (through ``hypothesis``, a dependency of its recipes module) creates a
``.hypothesis/`` directory in the working directory; it is git-ignored.
"""
