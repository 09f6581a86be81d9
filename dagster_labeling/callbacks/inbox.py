"""A durable SQLite inbox for platform callbacks.

The receiver writes every authenticated event here and commits before answering 2xx; sensors in the
Dagster daemon (another process) read it back in ``seq`` order with a cursor.

>>> import tempfile, os
>>> inbox = CallbackInbox(os.path.join(tempfile.mkdtemp(), "inbox.db"))
>>> ev = inbox.add("scale", "task-1:abc", {"task_id": "task-1"})
>>> ev.seq, inbox.add("scale", "task-1:abc", {"task_id": "task-1"})
(1, None)
>>> [e.dedup_key for e in inbox.read(after_seq=0, limit=10)]
['task-1:abc']

Durability and concurrency choices:

* WAL journal, so the daemon's reads never block the receiver's writes (and vice versa).
* ``synchronous=FULL``: in WAL mode ``NORMAL`` may lose the last committed transactions on power loss,
  and we promise the platform "stored" by answering 2xx, after which it never redelivers.
* One short-lived connection per call (no connection shared between threads), ``BEGIN IMMEDIATE`` for
  writes and a busy timeout, so several threads and processes may write at once.
* ``seq`` is ``INTEGER PRIMARY KEY AUTOINCREMENT``: never reused. SQLite has a single writer, so ``seq``
  is assigned in commit order and a reader never sees ``seq`` N+1 before N: a cursor never skips an event.
"""

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["SENSITIVE_HEADER_MARKERS", "CallbackInbox", "InboxEvent", "strip_sensitive_headers"]

# A header whose (lower-case) name contains one of these is never persisted.
SENSITIVE_HEADER_MARKERS: tuple[str, ...] = (
    "auth",  # authorization, proxy-authorization, scale-callback-auth, x-*-auth
    "signature",  # webhook-signature, x-hub-signature-256, ...
    "secret",
    "token",
    "api-key",
    "apikey",
    "cookie",
    "password",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS callback_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_headers TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, dedup_key)
);
CREATE INDEX IF NOT EXISTS callback_events_source_seq ON callback_events (source, seq);
CREATE INDEX IF NOT EXISTS callback_events_received_at ON callback_events (received_at);
"""


def strip_sensitive_headers(
    headers: Mapping[str, str] | None, extra: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Lower-cased copy of ``headers`` without any credential-bearing header.

    >>> strip_sensitive_headers({"Scale-Callback-Auth": "k", "User-Agent": "scale", "webhook-id": "m1"})
    {'user-agent': 'scale', 'webhook-id': 'm1'}
    """
    kept: dict[str, str] = {}
    for name, value in (headers or {}).items():
        lower = name.lower()
        if lower in extra or any(marker in lower for marker in SENSITIVE_HEADER_MARKERS):
            continue
        kept[lower] = value
    return kept


@dataclass(frozen=True)
class InboxEvent:
    """One stored callback. ``seq`` is the inbox-wide, strictly increasing position."""

    seq: int
    source: str
    dedup_key: str
    received_at: datetime
    payload: dict[str, Any] = field(hash=False)
    received_headers: dict[str, str] = field(default_factory=dict, hash=False)


class CallbackInbox:
    """Durable, deduplicating event inbox in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 30_000) -> None:
        self.path = os.fspath(path)
        self._busy_timeout_ms = busy_timeout_ms
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        with self._connect() as conn:
            # journal_mode=WAL is persistent in the file; setting it needs no other writer mid-transaction.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"CallbackInbox({self.path!r})"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        finally:
            conn.close()

    def add(
        self,
        source: str,
        dedup_key: str,
        payload: dict[str, Any],
        received_headers: Mapping[str, str] | None = None,
    ) -> InboxEvent | None:
        """Store one event and commit; return it, or ``None`` if ``(source, dedup_key)`` is already stored.

        Credential-bearing headers (``authorization``, ``scale-callback-auth``, ``webhook-signature``, ...)
        are dropped before anything is written.
        """
        if not isinstance(payload, dict):
            raise TypeError("payload must be a JSON object (dict)")
        received_at = datetime.now(timezone.utc)
        payload_text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        headers_text = json.dumps(strip_sensitive_headers(received_headers), sort_keys=True)
        with self._connect() as conn:
            # BEGIN IMMEDIATE takes the write lock first, so the existence check and the insert are atomic
            # across threads and processes. (Checking first, instead of INSERT ... ON CONFLICT DO NOTHING,
            # because with AUTOINCREMENT an ignored insert still burns a seq number.)
            conn.execute("BEGIN IMMEDIATE")
            try:
                exists = conn.execute(
                    "SELECT 1 FROM callback_events WHERE source = ? AND dedup_key = ?", (source, dedup_key)
                ).fetchone()
                seq: int | None = None
                if exists is None:
                    cur = conn.execute(
                        "INSERT INTO callback_events"
                        " (source, dedup_key, received_at, payload, received_headers) VALUES (?, ?, ?, ?, ?)",
                        (source, dedup_key, received_at.isoformat(), payload_text, headers_text),
                    )
                    seq = cur.lastrowid
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if seq is None:
            return None
        return InboxEvent(
            seq=seq,
            source=source,
            dedup_key=dedup_key,
            received_at=received_at,
            payload=json.loads(payload_text),
            received_headers=json.loads(headers_text),
        )

    def read(self, after_seq: int, limit: int, source: str | None = None) -> list[InboxEvent]:
        """Up to ``limit`` events with ``seq > after_seq`` (optionally of one source), ordered by ``seq``."""
        if limit <= 0:
            return []
        sql = "SELECT seq, source, dedup_key, received_at, payload, received_headers FROM callback_events"
        params: list[Any] = [int(after_seq)]
        if source is None:
            sql += " WHERE seq > ?"
        else:
            sql += " WHERE seq > ? AND source = ?"
            params.append(source)
        sql += " ORDER BY seq LIMIT ?"
        params.append(int(limit))
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [
            InboxEvent(
                seq=row[0],
                source=row[1],
                dedup_key=row[2],
                received_at=datetime.fromisoformat(row[3]),
                payload=json.loads(row[4]),
                received_headers=json.loads(row[5]),
            )
            for row in rows
        ]

    def prune(self, older_than: timedelta, *, source: str | None = None) -> int:
        """Delete events received more than ``older_than`` ago (of one source, or all); return how many.

        Keep ``older_than`` well above both the platform's redelivery window (an event redelivered after its
        row is gone is stored again; the sensors' run keys still keep it from launching a second run) and the
        longest time a sensor may stay stopped (events it has not read yet would be lost).

        >>> import tempfile, os
        >>> inbox = CallbackInbox(os.path.join(tempfile.mkdtemp(), "inbox.db"))
        >>> _ = inbox.add("scale", "task-1:abc", {"task_id": "task-1"})
        >>> inbox.prune(timedelta(days=30)), inbox.count()
        (0, 1)
        """
        if older_than <= timedelta(0):
            raise ValueError("older_than must be positive")
        cutoff = (datetime.now(timezone.utc) - older_than).isoformat()
        sql = "DELETE FROM callback_events WHERE received_at < ?"
        params: list[Any] = [cutoff]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        with self._connect() as conn:
            return int(conn.execute(sql, params).rowcount)

    def count(self, source: str | None = None) -> int:
        """Number of stored events (of one source, or all)."""
        with self._connect() as conn:
            if source is None:
                row = conn.execute("SELECT COUNT(*) FROM callback_events").fetchone()
            else:
                row = conn.execute("SELECT COUNT(*) FROM callback_events WHERE source = ?", (source,)).fetchone()
        return int(row[0])
