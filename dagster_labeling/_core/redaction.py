"""Keeping secrets out of logs, errors, reprs and metadata.

A :class:`Redactor` knows the secrets of one client (API keys, callback keys) and replaces every
occurrence of them, and of their Basic-auth and Bearer encodings, with ``***``. Credential headers and query
parameters are recognised by name (:func:`is_credential_header`, :func:`is_credential_param`), and
:func:`mask_url` shows a URL without the credentials written into it.

>>> r = Redactor(["sk-live-123"])
>>> r.redact("Authorization: Bearer sk-live-123")
'Authorization: Bearer ***'
"""

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit

REDACTED = "***"
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "proxy-authorization", "cookie", "set-cookie", "scale-callback-auth",
     "x-argilla-api-key", "webhook-signature"}
)
#: A header or query parameter whose (lower-cased) name contains one of these carries a credential.
CREDENTIAL_NAME_PARTS = ("key", "token", "secret", "auth", "password", "signature", "cookie", "credential")
#: Query parameters named like credentials that are pagination cursors, shown as they are.
PAGINATION_PARAMS = frozenset({"next_token", "page_token", "nexttoken", "pagetoken", "continuation_token"})


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


def is_credential_header(name: str) -> bool:
    """Whether a header carries a credential: the known ones, and any named with key, token, secret, auth, ...

    >>> [is_credential_header(h) for h in ("X-Argilla-Api-Key", "scale-callback-auth", "Content-Type")]
    [True, True, False]
    """
    name = name.lower()
    return name in SENSITIVE_HEADERS or any(part in name for part in CREDENTIAL_NAME_PARTS)


def is_credential_param(name: str) -> bool:
    """Whether a query parameter carries a credential (``api_key``, ``access_token``; not ``next_token``)."""
    name = name.lower()
    return name not in PAGINATION_PARAMS and any(part in name for part in CREDENTIAL_NAME_PARTS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with the values of credential-bearing headers replaced by ``***``."""
    return {k: (REDACTED if is_credential_header(k) else v) for k, v in headers.items()}


def redact_query(query: str, replacement: str = REDACTED) -> str:
    """A raw query string with the values of credential parameters replaced; everything else byte for byte.

    >>> redact_query("limit=5&api_key=sk-1&next_token=abc")
    'limit=5&api_key=***&next_token=abc'
    """
    pairs = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}={replacement}" if eq and is_credential_param(unquote_plus(name)) else pair)
    return "&".join(pairs)


def url_secrets(url: str) -> list[str]:
    """The credentials written into a URL (user name, password, credential query values), as written and decoded.

    >>> url_secrets("https://u:p%40ss@host/v1?token=a+b&limit=5")
    ['u', 'p%40ss', 'p@ss', 'a+b', 'a b']
    """
    try:
        parts = urlsplit(url)
        raw = [parts.username, parts.password]
    except ValueError:
        return []
    for pair in parts.query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and is_credential_param(unquote_plus(name)):
            raw.append(value)
    forms: list[str] = []
    for secret in raw:
        for form in (secret, unquote(secret or ""), unquote_plus(secret or "")):
            if form and form not in forms:
                forms.append(form)
    return forms


def mask_url(url: str) -> str:
    """``url`` as it may be shown: user info and credential query values replaced by ``***``.

    >>> mask_url("https://user:pw@api.example.com:8443/v1?api_key=sk-1&region=eu")
    'https://***@api.example.com:8443/v1?api_key=***&region=eu'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # unparsable: shown only if it cannot hold user info or a query
        return url if "@" not in url and "?" not in url else REDACTED
    netloc, query = parts.netloc, redact_query(parts.query)
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to mask: as written, not as urlsplit normalises it
    return SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment).geturl()


def mask(secret: str | None) -> str:
    """How a secret is shown in a repr: ``'***'`` when set, ``'<unset>'`` when empty."""
    return REDACTED if secret else "<unset>"
