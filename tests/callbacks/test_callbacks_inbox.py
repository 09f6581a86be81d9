import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from dagster_labeling.callbacks import CallbackInbox, InboxEvent, strip_sensitive_headers


def test_add_returns_event_then_none_for_duplicate(inbox):
    ev = inbox.add("scale", "k1", {"a": 1}, {"User-Agent": "ua", "Scale-Callback-Auth": "s3cr3t"})
    assert isinstance(ev, InboxEvent)
    assert (ev.seq, ev.source, ev.dedup_key, ev.payload) == (1, "scale", "k1", {"a": 1})
    assert ev.received_headers == {"user-agent": "ua"}
    assert inbox.add("scale", "k1", {"a": 2}) is None
    assert inbox.add("argilla", "k1", {"a": 3}).seq == 2  # dedup is per source
    assert inbox.add("scale", "k2", {"a": 4}).seq == 3  # duplicates burn no seq numbers
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.seq = 5  # type: ignore[misc]


def test_read_is_ordered_bounded_and_filtered(inbox):
    for i in range(10):
        inbox.add("scale" if i % 2 == 0 else "other", f"k{i}", {"i": i})
    assert [e.seq for e in inbox.read(0, 3)] == [1, 2, 3]
    assert [e.seq for e in inbox.read(3, 3)] == [4, 5, 6]
    assert [e.payload["i"] for e in inbox.read(0, 100, source="scale")] == [0, 2, 4, 6, 8]
    assert [e.seq for e in inbox.read(5, 2, source="scale")] == [7, 9]
    assert inbox.read(10, 5) == []
    assert inbox.read(0, 0) == []


def test_pragmas_wal_and_sync(inbox, inbox_path):
    conn = sqlite3.connect(inbox_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with inbox._connect() as c:
        assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_sensitive_headers_are_never_persisted(inbox, inbox_path):
    headers = {
        "Authorization": "Bearer AAA",
        "Proxy-Authorization": "Basic BBB",
        "scale-callback-auth": "CCC",
        "webhook-signature": "v1,DDD",
        "X-Hub-Signature-256": "sha256=EEE",
        "Cookie": "session=FFF",
        "X-Api-Key": "GGG",
        "webhook-id": "msg_1",
        "user-agent": "ua/1",
    }
    assert strip_sensitive_headers(headers) == {"webhook-id": "msg_1", "user-agent": "ua/1"}
    inbox.add("s", "k", {}, headers)
    with sqlite3.connect(inbox_path) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG"):
        assert secret not in dump
    assert "msg_1" in dump


def test_threads_no_loss_no_duplicates(inbox_path):
    inboxes = [CallbackInbox(inbox_path) for _ in range(6)]
    results: list[int | None] = []
    lock = threading.Lock()

    def worker(ib: CallbackInbox) -> None:
        for i in range(50):
            ev = ib.add("scale", f"k{i}", {"i": i})
            with lock:
                results.append(None if ev is None else ev.seq)

    threads = [threading.Thread(target=worker, args=(ib,)) for ib in inboxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    seqs = sorted(s for s in results if s is not None)
    assert seqs == list(range(1, 51))  # each key stored exactly once, by exactly one thread
    assert len(results) == 300
    assert CallbackInbox(inbox_path).count() == 50


def test_processes_no_loss_no_duplicates(inbox_path):
    script = textwrap.dedent(
        """
        import sys
        from dagster_labeling.callbacks.inbox import CallbackInbox
        ib = CallbackInbox(sys.argv[1])
        n = 0
        for i in range(60):
            if ib.add("scale", f"k{i}", {"i": i, "writer": sys.argv[2]}) is not None:
                n += 1
        print(n)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(inbox_path), str(w)], stdout=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    counts = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        counts.append(int(out))
    assert sum(counts) == 60
    events = CallbackInbox(inbox_path).read(0, 1000)
    assert [e.seq for e in events] == list(range(1, 61))
    assert sorted(e.dedup_key for e in events) == sorted(f"k{i}" for i in range(60))


def _age(inbox, dedup_key: str, days: float) -> None:
    """Make an event look received ``days`` ago (the inbox stamps events with the current time)."""
    from datetime import datetime, timedelta, timezone

    when = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    with sqlite3.connect(inbox.path) as conn:
        conn.execute("UPDATE callback_events SET received_at = ? WHERE dedup_key = ?", (when, dedup_key))


def test_prune_deletes_only_old_events_and_keeps_seq_order(inbox):
    from datetime import timedelta

    for i in range(4):
        inbox.add("scale" if i < 3 else "argilla", f"k{i}", {"i": i})
    _age(inbox, "k0", 40)
    _age(inbox, "k1", 40)
    _age(inbox, "k3", 40)
    assert inbox.prune(timedelta(days=30), source="scale") == 2  # argilla's old event is another source's
    assert [e.dedup_key for e in inbox.read(0, 10)] == ["k2", "k3"]
    assert inbox.prune(timedelta(days=30)) == 1 and inbox.count() == 1
    assert inbox.add("scale", "k4", {"i": 4}).seq == 5  # seq never reused after a prune
    assert inbox.add("scale", "k0", {"i": 0}).seq == 6  # a pruned key can be stored again (redelivery)
    with pytest.raises(ValueError):
        inbox.prune(timedelta(0))


def test_receiver_prunes_at_most_once_per_interval(inbox):
    from datetime import timedelta

    from dagster_labeling.callbacks import ScaleCallbackSource, build_callback_app

    from .callbacks_helpers import AUTH, SCALE_KEY, make_poster, scale_body

    inbox.add("scale", "old-1", {"task_id": "old-1"})
    _age(inbox, "old-1", 10)
    post = make_poster(build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)], retention=timedelta(days=7),
                                          prune_every=timedelta(hours=1)))
    assert post(json=scale_body("t1"), headers=AUTH).status_code == 200
    assert [e.payload.get("task_id") for e in inbox.read(0, 10)] == ["t1"]  # old-1 pruned on the way
    inbox.add("scale", "old-2", {"task_id": "old-2"})
    _age(inbox, "old-2", 10)
    assert post(json=scale_body("t2"), headers=AUTH).status_code == 200
    assert inbox.count() == 3  # within the hour: no second prune
    with pytest.raises(ValueError):
        build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)], retention=timedelta(0))
