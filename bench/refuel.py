"""Benchmarks of the Refuel integration against its emulator, which runs in a separate process.

    python -m bench refuel                # 5,000 labels, 100,000 items, 2,000-row fault run; 50 ms latency
    python -m bench refuel --quick        # 1,000 labels, 20,000 items, 400-row fault run
    python bench/refuel.py --latency-ms 100 --label-concurrency 32

Every figure is a ratio against a baseline measured in the same run:

1. Online labeling (``RefuelClient.label_dataframe``): rows/s against a sequential loop of ``label`` and against
   the ceiling (in flight ÷ latency; goal >= 0.8 of it). Then, with the emulator's label rate limit on, the
   share of the allowed rate achieved (goal >= 0.9) and the share of requests answered 429 (goal < 1%).
2. Fetching items as a DataFrame (``get_items(max_items=None)``): time against sequential paging and against
   the ceiling (pages ÷ (in flight ÷ latency); goal >= 0.8 of it), and the peak RSS growth of a fresh process
   against the DataFrame's own size (goal <= 3x).
3. Faults (20% of requests 429/500/503/slow/dropped): labeling N rows returns N labeled rows or names every
   row it could not label; fetching items returns every row or raises.

Timing goals print PASS/MISS and never fail the command; correctness (a row neither labeled nor named, a
partial fetch returned without an error) makes it exit 1.
"""

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import API_KEY, Report, process_cpu_seconds, verdict  # noqa: E402
from bench.serving import emulator_process, serve_until_interrupted  # noqa: E402

PROJECT = "bench"
TEXTS = ("a positive review of the phone", "so negative, it broke", "meh, it is a phone")


# -- the emulator, in its own process, pre-populated -----------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    """Child: start an EmulatorServer, create the project/dataset/task/application, then turn faults on."""
    from dagster_labeling.refuel import RefuelClient
    from dagster_labeling.testing import Clock, EmulatorServer, FaultConfig

    options = {"refuel": {"label_rate_limit": args.rate_limit or None, "label_rate_window_seconds": args.window,
                          "ingest_seconds": 0.0, "items_per_second": 1e9}}
    server = EmulatorServer(api_key=API_KEY, clock=Clock(time_scale=0.01), platform_options=options)
    server.start()
    state: Any = server.platform("refuel")
    state.ensure_project(PROJECT)
    with RefuelClient(API_KEY, project=PROJECT, base_url=server.platform_url("refuel"),
                      label_rate_per_minute=None) as c:
        rows = [{"text": f"{TEXTS[i % 3]} #{i}", "stars": str(i % 5)} for i in range(args.items)]
        ds = state.add_dataset("items", rows, state.ensure_project(PROJECT)["id"])
        c.create_task("sent", ds["id"], "You label reviews.", [
            {"name": "sentiment", "type": "classification", "labels": ["positive", "negative", "neutral"],
             "input_columns": ["text"], "guidelines": "Sentiment"}])
        c.deploy_task("sent", "sentiment_app")
    server.set_faults("refuel", FaultConfig(rate=args.fault_rate, seed=args.fault_seed, slow_seconds=0.2,
                                            retry_after_seconds=0.05, latency_seconds=args.latency_ms / 1000))
    return serve_until_interrupted(server)


@contextmanager
def emulator(latency_ms: float, items: int = 10, fault_rate: float = 0.0, fault_seed: int = 7,
             rate_limit: int = 0, window: float = 60.0) -> Iterator[tuple[str, subprocess.Popen]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--latency-ms", str(latency_ms), "--items",
           str(items), "--fault-rate", str(fault_rate), "--fault-seed", str(fault_seed), "--rate-limit",
           str(rate_limit), "--window", str(window)]
    with emulator_process(cmd, "refuel") as served:
        yield served



def client(url: str, **kwargs: Any) -> Any:
    from dagster_labeling._core import RetryPolicy
    from dagster_labeling.refuel import RefuelClient

    kwargs.setdefault("retry", RetryPolicy(max_attempts=6, initial_backoff_seconds=0.05, max_backoff_seconds=1.0))
    return RefuelClient(API_KEY, project=PROJECT, base_url=url, **kwargs)


class Count429(logging.Handler):
    """Counts the client's retry warnings for HTTP 429 (each is one request answered 429)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP 429" in record.getMessage():
            self.n += 1


def frame(n: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": [f"{TEXTS[i % 3]} #{i}" for i in range(n)]})


# -- 1. online labeling ----------------------------------------------------------------------------------------
def bench_labeling(rep: Report, lat: float, n: int, n_seq: int, conc: int, quick: bool) -> bool:
    ceiling = conc / (lat / 1000)
    with emulator(lat) as (url, proc), client(url, label_concurrency=conc, label_rate_per_minute=None) as c:
        c.label("sentiment_app", [{"text": "warm-up"}])
        t0 = time.perf_counter()
        for i in range(n_seq):
            c.label("sentiment_app", [{"text": f"{TEXTS[i % 3]} #{i}"}])
        seq_rate = n_seq / (time.perf_counter() - t0)
        df = frame(n)
        t0, c0, e0 = time.perf_counter(), time.process_time(), process_cpu_seconds(proc.pid)
        result = c.label_dataframe("sentiment_app", df)
        rate = n / (time.perf_counter() - t0)
        client_cpu, emu_cpu = (time.process_time() - c0) / n, (process_cpu_seconds(proc.pid) - e0) / n
    labels = result.labels.sentiment_label
    right = bool((labels[df.text.str.startswith("a positive")] == "positive").all())
    rep.head(f"\nOnline labeling ({n:,} rows, label_dataframe, {conc} in flight, {lat:g} ms latency)")
    rep.row("rows/s", f"{rate:,.0f}")
    rep.row(f"sequential rows/s (loop of label, {n_seq} rows)", f"{seq_rate:,.1f}")
    rep.row(f"ceiling rows/s ({conc} in flight / {lat:g} ms)", f"{ceiling:,.0f}")
    rep.row("rows/s / ceiling", f"{rate / ceiling:.2f}", "goal >= 0.8", verdict(rate / ceiling >= 0.8))
    rep.row("speed-up over sequential", f"{rate / seq_rate:.1f}x")
    rep.row("client / emulator CPU per request (ms)", f"{1000 * client_cpu:.2f} / {1000 * emu_cpu:.2f}")
    ncpu = os.cpu_count() or 1
    rep.row("CPU cores needed to reach the ceiling", f"{ceiling * (client_cpu + emu_cpu):.2f}", f"have {ncpu}")
    rep.row("CPU-bound limit rows/s (cores / CPU per request)", f"{ncpu / (client_cpu + emu_cpu):,.0f}")
    rep.row("labeled / failed / labels right", f"{labels.notna().sum():,} / {len(result.failures)} / {right}")
    ok = int(labels.notna().sum()) + len(result.failures) == n and right

    # with the emulator's rate limit on: R requests per W seconds (sliding window), the client limited alike
    limit, window = (100, 4.0) if quick else (300, 10.0)
    margin = 0.2  # the client's window is a little longer: arrival jitter must not push a request into a full window
    n_rl = limit * 4
    counter = Count429()
    http_log = logging.getLogger("dagster_labeling.http")
    http_log.addHandler(counter)
    with emulator(lat, rate_limit=limit, window=window) as (url, _), client(url, label_concurrency=conc) as c:
        from dagster_labeling._core import RateLimiter

        c.label_limiter = RateLimiter(limit, window + margin)
        t0 = time.perf_counter()
        limited = c.label_dataframe("sentiment_app", frame(n_rl))
        secs = time.perf_counter() - t0
    http_log.removeHandler(counter)
    allowed = limit * (1 + secs / window)  # the most a sliding window of `limit` per `window` admits in `secs`
    share = n_rl / allowed
    requests = n_rl + counter.n
    rep.head(f"\nOnline labeling under the emulator's rate limit ({limit} per {window:g} s sliding; the client's "
             f"limiter {limit} per {window + margin:g} s; {n_rl:,} rows)")
    rep.row("seconds / rows labeled", f"{secs:.1f} / {limited.labels.refuel_uuid.notna().sum():,}")
    rep.row("achieved / allowed rate", f"{share:.2f}", "goal >= 0.9", verdict(share >= 0.9))
    rep.row("requests answered 429", f"{counter.n} of {requests:,} ({100 * counter.n / requests:.2f}%)",
            "goal < 1%", verdict(counter.n / requests < 0.01))
    return ok and int(limited.labels.refuel_uuid.notna().sum()) + len(limited.failures) == n_rl


# -- 2. fetching items -----------------------------------------------------------------------------------------
def child_fetch(url: str, workers: int) -> int:
    """Child: fetch every item; print seconds, rows, DataFrame bytes and peak RSS growth (a fresh process)."""
    import threading

    import pandas as pd  # noqa: F401  (imported before the baseline)

    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page

    with client(url, max_workers=workers) as c:
        c.get_items("items", max_items=100)  # warm-up: imports, connections, lookups cached
        rss0, peak = rss(), [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.002):
                peak[0] = max(peak[0], rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        df = c.get_items("items", max_items=None)
        secs = time.perf_counter() - t0
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], rss())
    size = int(df.memory_usage(deep=True).sum())
    print(json.dumps({"seconds": secs, "rows": len(df), "unique": int(df.refuel_uuid.nunique()), "df_bytes": size,
                      "rss_growth_bytes": peak[0] - rss0,
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    return 0


def run_fetch_child(url: str, workers: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child-fetch", url, str(workers)],
                         capture_output=True, text=True, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"fetch child failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bench_items(rep: Report, lat: float, n: int, workers: int) -> bool:
    pages = -(-n // 100)
    ceiling_s = pages / (workers / (lat / 1000))
    with emulator(lat, items=n) as (url, _):
        sample = min(40, pages)
        with client(url, max_workers=1) as c:  # the same call, one page at a time, on a sample
            c.get_items("items", max_items=100)
            t0 = time.perf_counter()
            c.get_items("items", max_items=sample * 100)
            seq_s = (time.perf_counter() - t0) / sample * pages
        got = run_fetch_child(url, workers)
    rep.head(f"\nFetching {n:,} items as a DataFrame (get_items, pages of 100, {workers} in flight, {lat:g} ms)")
    rep.row("seconds", f"{got['seconds']:.2f}")
    rep.row(f"sequential paging seconds (max_workers=1, from {sample} pages)", f"{seq_s:.1f}")
    rep.row(f"ceiling seconds ({pages:,} pages / ({workers} / {lat:g} ms))", f"{ceiling_s:.2f}")
    rep.row("ceiling / seconds", f"{ceiling_s / got['seconds']:.2f}", "goal >= 0.8",
            verdict(ceiling_s / got["seconds"] >= 0.8))
    rep.row("speed-up over sequential paging", f"{seq_s / got['seconds']:.1f}x")
    ratio = got["rss_growth_bytes"] / got["df_bytes"]
    rep.row("DataFrame size (MiB, deep)", f"{got['df_bytes'] / 2**20:.1f}")
    rep.row("peak RSS growth / DataFrame size", f"{ratio:.2f}", "goal <= 3", verdict(ratio <= 3))
    rep.row("rows / unique", f"{got['rows']:,} / {got['unique']:,}", f"goal {n:,}",
            verdict(got["rows"] == got["unique"] == n))
    return bool(got["rows"] == got["unique"] == n)


# -- 3. faults -------------------------------------------------------------------------------------------------
def bench_faults(rep: Report, lat: float, n: int, n_items: int, rate: float, seed: int) -> bool:
    with emulator(lat, items=n_items, fault_rate=rate, fault_seed=seed) as (url, _), client(url) as c:
        df = frame(n)
        first = c.label_dataframe("sentiment_app", df, concurrency=32, rate_per_minute=None)  # no limit on here
        done = first.labels.refuel_uuid.notna()
        named = set(first.failures)
        accounted = int(done.sum()) + len(named) == n and named == set(df.index[~done])
        again = c.label_dataframe("sentiment_app", df, concurrency=32, rate_per_minute=None, retry_failed_rows=3)
        done2 = int(again.labels.refuel_uuid.notna().sum())
        fetched, raised = None, ""
        try:
            fetched = c.get_items("items", max_items=None)
        except Exception as exc:  # raising is allowed; a silent partial result is not
            raised = type(exc).__name__
    rep.head(f"\nFaults: {rate:.0%} of requests 429/500/503/slow/dropped (seed {seed}), {lat:g} ms latency")
    rep.row(f"labeling {n:,} rows: labeled / named as failed", f"{int(done.sum()):,} / {len(named)}",
            f"goal sum {n:,}", verdict(accounted))
    rep.row("  every failed row named (by index)", str(accounted))
    rep.row("  with retry_failed_rows=3: labeled / failed", f"{done2:,} / {len(again.failures)}",
            f"goal sum {n:,}", verdict(done2 + len(again.failures) == n))
    complete = fetched is not None and len(fetched) == n_items and fetched.refuel_uuid.is_unique
    rep.row(f"fetching {n_items:,} items: rows returned or error", f"{len(fetched):,}" if fetched is not None
            else f"raised {raised}", f"goal {n_items:,} or raise", verdict(complete or bool(raised)))
    return accounted and (complete or bool(raised)) and done2 + len(again.failures) == n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--labels", type=int, default=None, help="Rows labeled online (5,000; quick 1,000).")
    parser.add_argument("--sequential", type=int, default=None, help="Sequential label sample (100; quick 40).")
    parser.add_argument("--items", type=int, default=None, help="Items fetched (100,000; quick 20,000).")
    parser.add_argument("--fault-rows", type=int, default=None, help="Rows of the fault run (2,000; quick 400).")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=7)
    parser.add_argument("--label-concurrency", type=int, default=32)
    parser.add_argument("--fetch-concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: labeling,items,faults.")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate-limit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--child-fetch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        args.items = args.items or 10
        return serve(args)
    if args.child_fetch:
        return child_fetch(args.child_fetch[0], int(args.child_fetch[1]))
    logging.getLogger("dagster_labeling.http").setLevel(logging.WARNING)
    logging.getLogger("dagster_labeling.http").propagate = False
    logging.getLogger("dagster_labeling.http").addHandler(logging.NullHandler())  # retries are counted, not printed
    logging.getLogger("dagster_labeling.bulk").setLevel(logging.ERROR)
    q = args.quick
    skip = set(filter(None, args.skip.split(",")))
    rep = Report()
    rep.head(f"dagster-labeling bench: Refuel emulator in a separate process, {args.latency_ms:g} ms latency, "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    ok = True
    if "labeling" not in skip:
        ok &= bench_labeling(rep, args.latency_ms, args.labels or (1000 if q else 5000),
                             args.sequential or (40 if q else 100), args.label_concurrency, q)
    if "items" not in skip:
        ok &= bench_items(rep, args.latency_ms, args.items or (20_000 if q else 100_000), args.fetch_concurrency)
    if "faults" not in skip:
        ok &= bench_faults(rep, args.latency_ms, args.fault_rows or (400 if q else 2000), 5000 if q else 20_000,
                           args.fault_rate, args.fault_seed)
    rep.head(f"\nload average at end {os.getloadavg()[0]:.1f}; timings are not asserted. "
             f"Correctness: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
