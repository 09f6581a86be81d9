"""Small HTML pages the emulators serve where the vendors have a web UI (the links put in metadata).

A platform registers page handlers on ``self.pages`` (GET only, no API key: like a browser, they carry none).
A handler returns a :class:`Page` or raises ``HTTPError(404, ...)`` (answered with :func:`not_found`). Every
value shown is HTML-escaped; URLs lose the credentials written into them, values under credential-like names
(``api_key``, ``token``, ``password``...) are not shown, and the emulator's API key never appears.
"""

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from dagster_labeling._core.redaction import mask_url

HIDDEN = "<hidden>"
#: A dict key with one of these words (split on anything not a letter or digit) holds a credential.
CREDENTIAL_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "auth", "authorization", "credential",
     "credentials", "signature", "cookie"})
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;margin:0.5rem 0 1.5rem}"
    "th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}pre{margin:0;white-space:pre-wrap}"
    ".note{color:#666;font-size:0.9rem}"
)


def is_credential_name(name: str) -> bool:
    """Whether a field named ``name`` holds a credential (``api_key``, ``callbackToken``; not ``keywords``).

    >>> [is_credential_name(n) for n in ("api_key", "X-Api-Key", "callbackToken", "keywords", "unique_id")]
    [True, True, True, False, False]
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return any(word in CREDENTIAL_WORDS for word in re.split(r"[^a-z0-9]+", spaced.lower()))


def scrub(value: Any) -> Any:
    """``value`` fit to be shown: credential-named fields hidden, URLs without their credentials."""
    if isinstance(value, Mapping):
        return {str(k): HIDDEN if is_credential_name(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (None shows as an empty cell)."""
    return "" if value is None else html.escape(str(value), quote=True)


def link(href: str, text: Any) -> str:
    """An ``<a>``; ``href`` is escaped too."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def seg(value: Any) -> str:
    """``value`` as one path segment of a link (``/`` and all percent-encoded)."""
    return quote(str(value), safe="")


def cell(value: Any) -> str:
    """A table cell's HTML: scalars as text, structures as pretty JSON."""
    if isinstance(value, (Mapping, list, tuple)):
        return f"<pre>{esc(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"
    return esc(value)


def fields_table(obj: Mapping[str, Any], *, skip: Iterable[str] = ()) -> str:
    """One row per field (name, value); fields starting with ``_`` (emulator internals) are left out."""
    skipped = set(skip)
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{cell(v)}</td></tr>" for k, v in scrub(dict(obj)).items()
                   if not k.startswith("_") and k not in skipped)
    return f"<table>{rows}</table>"


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
               links: Mapping[str, Any] | None = None) -> str:
    """A table of ``rows``; ``links[column](row)`` gives the href of that column's cell, if any."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        shown = scrub(dict(row))
        cells = []
        for c in columns:
            href = links[c](row) if links and c in links else None
            cells.append(f"<td>{link(href, shown.get(c)) if href else cell(shown.get(c))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        return '<p class="note">None.</p>'
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


@dataclass
class Page:
    """An HTML page: a title, links back (breadcrumbs) and sections of (heading, HTML already escaped)."""

    title: str
    sections: list[tuple[str, str]] = field(default_factory=list)
    crumbs: list[tuple[str, str]] = field(default_factory=list)  # (href, text)
    status: int = 200

    def render(self, platform: str, secrets: Iterable[str] = ()) -> bytes:
        nav = " / ".join(link(href, text) for href, text in self.crumbs)
        parts = [f"<h2>{esc(h)}</h2>{body}" if h else body for h, body in self.sections]
        text = (
            "<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{esc(self.title)} · {esc(platform)} emulator</title><style>{STYLE}</style></head><body>"
            f"<p class=\"note\">{esc(platform)} emulator (dagster-labeling): a stand-in for the vendor's web UI, "
            f"read-only{'' if not nav else ' · ' + nav}</p><h1>{esc(self.title)}</h1>{''.join(parts)}</body></html>"
        )
        for secret in secrets:
            if secret:
                text = text.replace(esc(secret), esc(HIDDEN)).replace(secret, esc(HIDDEN))
        return text.encode()


def not_found(message: str, crumbs: list[tuple[str, str]] | None = None) -> Page:
    """The 404 page."""
    return Page("Not found", [("", f"<p>{esc(message)}</p>")], crumbs or [], status=404)
