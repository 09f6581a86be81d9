"""Fixtures for the Refuel tests: a client, and a labeled 'reviews' dataset built through the wire API.

This folder has no ``__init__.py`` on purpose: as a package it would be importable as ``refuel`` and shadow
the official SDK that the wire tests import. So it has no ``conftest.py`` either (a second rootless
``conftest`` module collides under ``--doctest-modules``): test modules import these fixtures by name, and
every module here has a unique basename (``test_refuel_*``, ``refuel_*``).
"""

from collections.abc import Iterator

import pytest
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import RetryPolicy
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle


@pytest.fixture
def client(refuel_emulator: RefuelEmulatorHandle) -> Iterator[RefuelClient]:
    with RefuelClient(refuel_emulator.api_key, project=refuel_emulator.project, base_url=refuel_emulator.base_url,
                      retry=RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05),
                      label_rate_per_minute=None) as c:
        yield c


@pytest.fixture
def labeled(client: RefuelClient) -> RefuelClient:
    """Dataset 'reviews' (30 rows), task 'sent' run to completion, application 'sent' deployed."""
    client.upload_dataset(reviews_frame(), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "You are an expert at reviews.", [SENTIMENT])
    client.start_task_run("sent", "reviews").wait(FAST)
    client.deploy_task("sent")
    return client
