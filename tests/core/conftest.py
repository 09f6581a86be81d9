"""Helpers for the core tests: a scripted httpx transport and a recording sleep."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dagster_labeling._core import HttpTransport, RetryPolicy

API_KEY = "sk-live-SECRET-0123456789abcdef"
BASE_URL = "https://api.example.test/v1"


class Script:
    """An httpx.MockTransport that answers from a list of responses (or exceptions), recording requests."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer) and not isinstance(answer, httpx.Response):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class RecordingSleep:
    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.calls: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.on_sleep:
            self.on_sleep(seconds)


@pytest.fixture
def make_transport() -> Any:
    made: list[HttpTransport] = []

    def make(script: Script, *, retry: RetryPolicy | None = None, sleep: RecordingSleep | None = None,
             **kwargs: Any) -> HttpTransport:
        t = HttpTransport(
            platform="Demo",
            base_url=BASE_URL,
            auth=kwargs.pop("auth", None),
            secrets=kwargs.pop("secrets", [API_KEY]),
            retry=retry or RetryPolicy(max_attempts=5),
            transport=script.transport,
            sleep=sleep if sleep is not None else RecordingSleep(),
            **kwargs,
        )
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()
