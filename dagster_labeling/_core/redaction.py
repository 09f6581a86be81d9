"""Keeping secrets out of logs, errors, reprs and metadata.

A :class:`Redactor` knows the secrets of one client (API keys, callback keys) and replaces every
occurrence of them, and of their Basic-auth and Bearer encodings, with ``***``.

>>> r = Redactor(["sk-live-123"])
>>> r.redact("Authorization: Bearer sk-live-123")
'Authorization: Bearer ***'
"""

import base64
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "proxy-authorization", "cookie", "set-cookie", "scale-callback-auth",
     "x-argilla-api-key", "webhook-signature"}
)


class Redactor:
    """Replaces known secret values (and their common encodings) in text and structures."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            values.add(secret)
            # The Basic-auth encodings of "<key>:" and "<key>:<key>" carry the key too.
            values.add(base64.b64encode(f"{secret}:".encode()).decode())
            values.add(base64.b64encode(f"{secret}:{secret}".encode()).decode())
        # Longest first, so that a secret that contains another is replaced whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} values>)"

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact_value(self, value: Any) -> Any:
        """Redact strings inside nested dicts, lists and tuples."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact_value(v) for v in value)
        return value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with the values of credential-bearing headers replaced by ``***``."""
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


def mask(secret: str | None) -> str:
    """How a secret is shown in a repr: ``'***'`` when set, ``'<unset>'`` when empty."""
    return REDACTED if secret else "<unset>"
