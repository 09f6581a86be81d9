"""Benchmarks of the Argilla integration against its emulator, which runs in a separate process.

    python -m bench argilla               # 100,000 records; 10,000-record fault run; 50 ms latency
    python -m bench argilla --quick       # 20,000 records; 2,000-record fault run
    python bench/argilla.py --latency-ms 100 --records 50000 --concurrency 16

Every figure is a ratio against a baseline measured in the same run:

1. Upserting records (``ArgillaClient.upsert_records``: chunks of 500, ``--concurrency`` in flight): records/s
   against sequential 500-record requests (a sample of the same client at concurrency 1), against the latency
   ceiling (in flight × 500 ÷ latency; goal >= 0.8 of it) and, because one 500-record request costs the
   emulator milliseconds of CPU, against the emulator's own limit (500 ÷ its CPU per request, measured from
   /proc): whichever ceiling is lower is the one that binds. Peak RSS growth of the bench process.
2. Faults (20% of requests 429/500/503/slow/dropped before or after processing): N records with stable
   ``external_id``s give exactly N records on the emulator, no duplicates, none missing (chunks that failed
   after all retries are re-sent, as the asset's failure message tells users to do).

Timing goals print PASS/MISS and never fail the command; correctness makes it exit 1.
"""

import argparse
import logging
import os
import resource
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

CHUNK = 500


# -- the emulator, in its own process ----------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    """Child: an EmulatorServer without simulated annotators, faults and latency as asked."""
    from dagster_labeling.testing import EmulatorServer, FaultConfig

    server = EmulatorServer(api_key=API_KEY, platform_options={"argilla": {"auto_annotate": False}})
    server.start()
    server.set_faults("argilla", FaultConfig(rate=args.fault_rate, seed=args.fault_seed, slow_seconds=0.2,
                                             retry_after_seconds=0.05, latency_seconds=args.latency_ms / 1000))
    return serve_until_interrupted(server)


@contextmanager
def emulator(latency_ms: float, fault_rate: float = 0.0, fault_seed: int = 7) -> Iterator[tuple[str, Any]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--latency-ms", str(latency_ms),
           "--fault-rate", str(fault_rate), "--fault-seed", str(fault_seed)]
    with emulator_process(cmd, "argilla") as served:
        yield served



def client(url: str, **kwargs: Any) -> Any:
    from dagster_labeling._core import RetryPolicy
    from dagster_labeling.argilla import ArgillaClient

    kwargs.setdefault("retry", RetryPolicy(max_attempts=6, initial_backoff_seconds=0.05, max_backoff_seconds=1.0))
    return ArgillaClient(API_KEY, api_url=url, **kwargs)


def settings() -> Any:
    from dagster_labeling.argilla import LabelQuestion, Settings, TextField

    return Settings(fields=[TextField(name="text")], questions=[LabelQuestion(name="label", labels=["pos", "neg"])])


def records(n: int, prefix: str) -> list[Any]:
    from dagster_labeling.argilla import RecordInput, SuggestionInput

    return [RecordInput(fields={"text": f"review number {i}: it is fine"}, external_id=f"{prefix}-{i}",
                        suggestions=[SuggestionInput(question="label", value="pos" if i % 3 else "neg",
                                                     score=0.5 + (i % 50) / 100)])
            for i in range(n)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- 1. upsert throughput -----------------------------------------------------------------------------------
def bench_upsert(rep: Report, lat: float, n: int, n_seq: int, conc: int) -> bool:
    with emulator(lat) as (url, proc), client(url, max_concurrency=conc) as c:
        ds = c.create_dataset("bench-seq", settings())
        seq = records(n_seq, "seq")
        t0 = time.perf_counter()
        c.upsert_records(ds, seq, concurrency=1)
        seq_rate = n_seq / (time.perf_counter() - t0)

        ds = c.create_dataset("bench-bulk", settings())
        rss0 = rss_mb()
        t_build = time.perf_counter()
        bulk = records(n, "bulk")
        build_secs = time.perf_counter() - t_build
        cpu0, emu0 = time.process_time(), process_cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        result = c.upsert_records(ds, bulk, concurrency=conc)
        secs = time.perf_counter() - t0
        client_cpu, emu_cpu = time.process_time() - cpu0, process_cpu_seconds(proc.pid) - emu0
        rss_growth = rss_mb() - rss0
        total = c.progress(ds.id).total
    requests = max(result.requests, 1)
    rate = n / secs
    latency_ceiling = conc * CHUNK / (lat / 1000) if lat else float("inf")
    emu_ms = 1000 * emu_cpu / requests
    emulator_ceiling = CHUNK / (emu_cpu / requests) if emu_cpu > 0 else float("inf")
    binding = min(latency_ceiling, emulator_ceiling)
    rep.head(f"\nUpserting {n:,} records in chunks of {CHUNK} ({requests} requests), {conc} in flight, "
             f"{lat:g} ms latency")
    rep.row("sequential 500-record requests (baseline)", f"{seq_rate:,.0f} rec/s", f"sample of {n_seq:,}")
    rep.row("bulk upsert", f"{rate:,.0f} rec/s")
    rep.row("speed-up over sequential", f"{rate / seq_rate:.1f}x")
    rep.row("latency ceiling (in flight x 500 / latency)", f"{latency_ceiling:,.0f} rec/s")
    rep.row("emulator CPU per 500-record request", f"{emu_ms:.0f} ms")
    rep.row("emulator ceiling (500 / its CPU per request)", f"{emulator_ceiling:,.0f} rec/s",
            "one process, one GIL")
    bound = "emulator" if emulator_ceiling < latency_ceiling else "latency"
    rep.row(f"bulk / binding ceiling ({bound})", f"{rate / binding:.2f}", "goal >= 0.8",
            verdict(rate / binding >= 0.8))
    rep.row("client CPU per request", f"{1000 * client_cpu / requests:.0f} ms")
    cores = os.cpu_count() or 1
    cpu_limit = cores * CHUNK / (client_cpu / requests + emu_cpu / requests)
    rep.row("CPU-bound limit (cores x 500 / (client + emulator CPU))", f"{cpu_limit:,.0f} rec/s",
            f"{cores} cores shared by both")
    rep.row("bulk / CPU-bound limit", f"{rate / cpu_limit:.2f}")
    rep.row("building the RecordInputs (not timed above)", f"{n / build_secs:,.0f} rec/s")
    rep.row("peak RSS growth of the bench process", f"{rss_growth:,.0f} MB", f"{n:,} records built and sent")
    ok = total == n and result.count == n and not result.failures
    rep.row("records on the emulator", f"{total:,}", f"goal {n:,}", verdict(ok))
    return ok


# -- 2. faults ----------------------------------------------------------------------------------------------
def bench_faults(rep: Report, lat: float, n: int, rate: float, seed: int) -> bool:
    with emulator(lat, fault_rate=rate, fault_seed=seed) as (url, _):
        with client(url) as setup:
            for _ in range(20):  # creation itself may hit faults; a failed attempt leaves no draft behind
                try:
                    ds = setup.create_dataset("bench-faults", settings())
                    break
                except Exception:
                    continue
            else:
                raise RuntimeError("could not create the dataset through the faults")
        with client(url) as c:
            recs = records(n, "fault")
            first = c.upsert_records(ds, recs, concurrency=32)
            failed_chunks = len(first.failures)
            rounds = 0
            while first.failures and rounds < 5:  # re-run, as the asset's failure message tells users to
                rounds += 1
                first = c.upsert_records(ds, recs, concurrency=32)
            listed = []
            for _ in range(5):
                try:
                    listed = [r.external_id for r in c.list_records(ds.id, include=())]
                    break
                except Exception:
                    continue
    distinct = len(set(listed))
    missing = len({f"fault-{i}" for i in range(n)} - set(listed))
    ok = len(listed) == n and distinct == n and missing == 0
    rep.head(f"\nFaults: {rate:.0%} of requests 429/500/503/slow/dropped (seed {seed}), {lat:g} ms latency")
    rep.row(f"records on the emulator after upserting {n:,}", f"{len(listed):,}", f"goal {n:,}", verdict(ok))
    rep.row("  distinct external_ids / duplicates / missing", f"{distinct:,} / {len(listed) - distinct} / {missing}")
    rep.row("  chunks failed after all retries (first pass) / re-runs", f"{failed_chunks} / {rounds}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--records", type=int, default=None, help="Records upserted (100,000; quick 20,000).")
    parser.add_argument("--sequential", type=int, default=None, help="Sequential sample (10,000; quick 5,000).")
    parser.add_argument("--fault-records", type=int, default=None, help="Records of the fault run (10,000; "
                        "quick 2,000).")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="Upsert requests in flight.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: upsert,faults.")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    for name in ("dagster_labeling.http", "dagster_labeling.bulk"):
        logging.getLogger(name).setLevel(logging.ERROR)
        logging.getLogger(name).propagate = False
    q = args.quick
    skip = set(filter(None, args.skip.split(",")))
    rep = Report()
    rep.head(f"dagster-labeling bench: Argilla emulator in a separate process, {args.latency_ms:g} ms latency, "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    ok = True
    if "upsert" not in skip:
        ok &= bench_upsert(rep, args.latency_ms, args.records or (20_000 if q else 100_000),
                           args.sequential or (5_000 if q else 10_000), args.concurrency)
    if "faults" not in skip:
        ok &= bench_faults(rep, args.latency_ms, args.fault_records or (2_000 if q else 10_000), args.fault_rate,
                           args.fault_seed)
    rep.head(f"\nload average at end {os.getloadavg()[0]:.1f}; timings are not asserted. "
             f"Correctness: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
