"""One training file and one fine-tune per partition, however many runs of that partition start together.

LLM Engine gives neither uniqueness nor an idempotency key: two uploads of the same name are two files, two
identical fine-tune requests are two (billed) fine-tunes, and its listings carry no creation time to order them
by. So the order comes from Dagster: each run records what it uploaded or launched as an observation of the
asset's partition, written to the instance's event log *before* it goes on, then reads the records back. The
earliest record (event-log order) of an object that still exists wins; every run picks it, and a run whose own
object lost deletes its file or cancels its fine-tune. A later run finds the winner in the records and creates
nothing. This needs the racing runs to share one Dagster instance (any deployment does; an ephemeral instance per
process does not). A run whose launch LLM Engine refuses because racing runs reached its limit of fine-tunes
joins the launch of a parallel run instead.

A run that dies between its create and its record leaves an unrecorded object behind: a file is then adopted
by the next run that lists it (files are found by name); a fine-tune keeps running unseen (its listing has no
name or inputs to match it by) — cancel it on LLM Engine.

>>> training_file_name("train_file", "2026-11-01", "0123456789abcdef")
'train_file__2026-11-01.0123456789abcdef.csv'
"""

import hashlib
import time

import dagster as dg

from dagster_labeling._core.errors import NotFound
from dagster_labeling._dagster.launches import earlier_launch, observation, recorded_ids
from dagster_labeling._dagster.naming import remote_name
from dagster_labeling.llm_engine.client import LLMEngineClient
from dagster_labeling.llm_engine.handles import FineTuneJob

FILE_ID_META = "llm_engine/file_id"
FILE_NAME_META = "llm_engine/file_name"
FINE_TUNE_ID_META = "llm_engine/fine_tune_id"
#: Characters of a remote file name: safe as one URL path segment and as an object-store key (model-engine
#: stores a file under its name), and the platform-independent part of a local file name.
FILE_NAME_CHARS = "A-Za-z0-9._-"
FILE_NAME_MAX_LENGTH = 200
DIGEST_LENGTH = 16
#: How long a run whose launch was refused looks for a parallel run's launch before it fails.
JOIN_WAIT_SECONDS = 10.0


def file_digest(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of a file's bytes."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:DIGEST_LENGTH]


def training_file_name(asset_name: str, partition: str | None, digest: str) -> str:
    """``<asset>__<partition>.<content digest>.csv``: injective in (asset, partition) (see ``remote_name``), and
    the same content gives the same name, so a re-run finds its file and new data makes a new file."""
    tail = f".{digest}.csv"
    base = remote_name(asset_name, partition, allowed=FILE_NAME_CHARS, max_length=FILE_NAME_MAX_LENGTH - len(tail))
    return base + tail


def output_file_name(asset_name: str, partition: str | None, run_id: str) -> str:
    """A batch job's output file name, ``<run id>-<asset>__<partition>.json``, one path segment."""
    base = remote_name(asset_name, partition, allowed=FILE_NAME_CHARS, max_length=FILE_NAME_MAX_LENGTH)
    return f"{run_id}-{base}.json"


class TrainingFile:
    """Get-or-create of the partition's training file named ``filename`` (see the module docstring).

    ``existing()`` finds the file an earlier run recorded; else ``claim(path)`` adopts an unrecorded file of
    that name or uploads one, the caller yields ``record()``, and ``settle()`` answers the winner.
    """

    def __init__(self, context: dg.AssetExecutionContext, client: LLMEngineClient, filename: str) -> None:
        self.context = context
        self.client = client
        self.filename = filename
        self.listed: list[str] = []
        self.claimed: str | None = None
        self.uploaded = False

    def _list(self) -> list[str]:
        self.listed = sorted(f.id for f in self.client.list_files() if f.filename == self.filename)
        return self.listed

    def _first_recorded(self, listed: list[str]) -> str | None:
        ids = recorded_ids(self.context, FILE_NAME_META, self.filename, FILE_ID_META)
        return next((i for i in ids if i in listed), None)

    def existing(self) -> str | None:
        """The file an earlier run recorded and that still exists, else None."""
        return self._first_recorded(self._list())

    def claim(self, path: str) -> str:
        """A file of this name that ``existing()`` listed but nobody recorded yet (a racing run's upload), else
        ``path`` uploaded."""
        if self.listed:
            self.claimed = self.listed[0]
        else:
            self.claimed = self.client.upload_file(path, filename=self.filename)
            self.uploaded = True
        return self.claimed

    def record(self) -> dg.AssetObservation:
        assert self.claimed is not None, "claim() first"
        return observation(self.context, {FILE_ID_META: self.claimed, FILE_NAME_META: self.filename})

    def settle(self) -> str:
        """The winner: the earliest recorded file that exists; our own upload is deleted if it lost."""
        assert self.claimed is not None, "claim() and record() first"
        winner = self._first_recorded(self._list()) or self.claimed
        if winner != self.claimed and self.uploaded:
            try:
                self.client.delete_file(self.claimed)
            except NotFound:
                pass
            self.context.log.info(f"A parallel run of this partition uploaded {self.filename} first as {winner}; "
                                  f"deleted this run's copy {self.claimed}")
        return winner


def earliest_launch(context: dg.AssetExecutionContext, client: LLMEngineClient, key: str,
                    epochs: int | None) -> FineTuneJob | None:
    """The fine-tune of the earliest record of this partition with launch key ``key`` that is still pending,
    running or succeeded (reattach to it), else None (launch one)."""
    return earlier_launch(context, key, FINE_TUNE_ID_META, lambda job_id: client.fine_tune_job(job_id, epochs=epochs))


def join_parallel_launch(context: dg.AssetExecutionContext, client: LLMEngineClient, key: str,
                         epochs: int | None, *, wait_seconds: float = JOIN_WAIT_SECONDS) -> FineTuneJob | None:
    """After LLM Engine refused our launch (its limit of pending or running fine-tunes plus fine-tuned endpoints,
    5 per user, is reached by racing runs together): the fine-tune a parallel run of this partition launched with
    the same inputs, waiting up to ``wait_seconds`` for its record; None if none appears."""
    deadline = time.monotonic() + wait_seconds
    while True:
        job = earliest_launch(context, client, key, epochs)
        if job is not None or time.monotonic() >= deadline:
            return job
        time.sleep(0.5)


def keep_earliest(context: dg.AssetExecutionContext, client: LLMEngineClient, key: str,
                  launched: FineTuneJob) -> FineTuneJob:
    """After ``launched`` was recorded: the fine-tune every racing run keeps (the earliest recorded); ours is
    canceled if it lost (raising :class:`~dagster_labeling.CancelIncomplete` if it keeps running)."""
    winner = earliest_launch(context, client, key, launched.epochs)
    if winner is None or winner.id == launched.id:
        return launched
    outcome = launched.cancel()
    context.log.info(f"A parallel run of this partition launched LLM Engine fine-tune {winner.id} first; "
                     f"canceled this run's {launched.id}: {outcome.describe()}")
    return winner
