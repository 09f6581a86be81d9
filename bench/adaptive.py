"""Benchmarks of the Adaptive ML integration against its emulator (run in a separate process).

    python -m bench adaptive              # 2,000-row asset run, 1,000-row fault runs; 50 ms latency
    python -m bench adaptive --quick      # 400-row asset run, 200-row fault runs
    python bench/adaptive.py --latency-ms 100 --rows 5000 --concurrency 16

Every figure is a ratio against a baseline measured in the same run:

1. Logging rows as interactions through ``build_adaptive_interactions_asset`` (``dg.materialize``; the asset
   first looks up the rows already logged, one ``ListInteractions`` look-up per 100 rows, sent concurrently,
   then logs the rest through ``run_bulk`` with the resource's ``max_concurrency`` in flight): rows/s of the
   asset step against a sequential loop of ``create_interaction`` and against the ceiling (in flight ÷ latency;
   goal >= 0.8 of it). The lookup's share of the step, client and emulator CPU per row, and the client CPU of
   one ``create_interaction`` against a bare ``httpx.Client.post`` of the same body.
2. Faults (20% of requests 429/500/503/slow/dropped before or after processing, seed 7): ONE materialization
   of the asset must succeed (goal: 1 run; a failed run is re-run, at most 10, to show how far off it is): an
   interaction whose answer is lost (5xx, connection dropped after sending) is looked up by its row label and
   sent again only if absent. Then the interactions on the emulator carrying the asset's ``dagster_row`` label:
   duplicates (goal 0), missing (goal 0).

Timing goals print PASS/MISS and never fail the command; correctness makes it exit 1.
"""

import argparse
import logging
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import API_KEY, Report, emulator, verdict  # noqa: E402

MODEL = "llama-3.1-8b-instruct"
FEEDBACK = "acceptance"
LOOKUP_CHUNK = 100  # rows per ListInteractions query of the asset's lookup (assets._logged_rows)
MAX_RUNS = 10


def base_url(emu: Any) -> str:
    return f"http://127.0.0.1:{emu.port}/adaptive"


def retry_policy() -> Any:
    """Sized like the other benches: a query (the lookup, retried on every fault) fails for good only after 8
    faults in a row, 0.2^8 ≈ 3e-6 per query at 20% faults; short backoffs, so retries don't dominate the time."""
    from dagster_labeling._core import RetryPolicy

    return RetryPolicy(max_attempts=8, initial_backoff_seconds=0.05, max_backoff_seconds=1.0)


def resource(url: str, concurrency: int) -> Any:
    from dagster_labeling._dagster.config import RetryConfig
    from dagster_labeling.adaptive import AdaptiveResource

    return AdaptiveResource(api_key=API_KEY, base_url=url, max_concurrency=concurrency,
                            retry=RetryConfig(**retry_policy().model_dump()))


def client(url: str, concurrency: int = 32) -> Any:
    from dagster_labeling.adaptive import AdaptiveClient

    return AdaptiveClient(API_KEY, base_url=url, max_concurrency=concurrency, retry=retry_policy())


def setup_project(c: Any, key: str, tries: int = 30) -> None:
    """Project ``key`` with the model attached as default and the bool feedback key, through the client (the
    emulator runs in another process). The get-or-creates retry their creates through faults; attaching is not
    retried once sent, so a round that fails is run again (attaching twice is harmless)."""
    last: Exception | None = None
    for _ in range(tries):
        try:
            c.ensure_project(key)
            c.attach_model(key, MODEL, make_default=True)
            c.ensure_feedback_key(key, FEEDBACK, kind="bool")
            return
        except Exception as exc:  # a fault that outlasted the retries; the next round picks up where this left
            last = exc
    raise RuntimeError(f"could not set up project {key!r} through the faults: {last}")


def frame(n: int) -> Any:
    import pandas as pd

    return pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                         "prompt": [f"Question {i}: how do I reset my password?" for i in range(n)],
                         "completion": [f"Answer {i}: open Settings, then Security, then Reset." for i in range(n)],
                         "accepted": [i % 3 != 0 for i in range(n)]})


def assets(n: int, name: str, project: str) -> list[Any]:
    import dagster as dg

    from dagster_labeling.adaptive import build_adaptive_interactions_asset

    @dg.asset(name=f"{name}_rows")
    def rows() -> Any:
        return frame(n)

    logged = build_adaptive_interactions_asset(name=name, upstream=rows, project=project, key_column="id",
                                               prompt_column="prompt", completion_column="completion",
                                               feedback_key=FEEDBACK, feedback_column="accepted")
    return [rows, logged]


def body(project: str, i: int) -> dict[str, Any]:
    """The interaction the asset sends for row ``i`` (labels and feedback included)."""
    return {"project": project, "messages": [{"content": f"Question {i}: how do I reset my password?",
                                              "role": "user"}],
            "completion": f"Answer {i}: open Settings, then Security, then Reset.",
            "feedbacks": [{"metric": FEEDBACK, "value": i % 3 != 0}], "labels": {"dagster_row": f"seq/r{i}"}}


class SpanTimer:
    """Wall time of a phase of the asset: from the first call of ``AdaptiveClient.<method>`` to the end of the
    last one (the calls run concurrently, so their durations are not summed)."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.first = float("inf")
        self.last = 0.0
        self.calls = 0

    @property
    def seconds(self) -> float:
        return max(0.0, self.last - self.first)

    def __enter__(self) -> "SpanTimer":
        from dagster_labeling.adaptive import AdaptiveClient

        self._orig = getattr(AdaptiveClient, self.method)
        orig = self._orig

        def timed(client: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(client, *args, **kwargs)
            finally:
                self.first = min(self.first, t0)
                self.last = max(self.last, time.perf_counter())
                self.calls += 1

        setattr(AdaptiveClient, self.method, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        from dagster_labeling.adaptive import AdaptiveClient

        setattr(AdaptiveClient, self.method, self._orig)


# -- 1. logging rows through the asset ----------------------------------------------------------------------
def bench_logging(emu: Any, n: int, n_seq: int, conc: int) -> dict[str, float]:
    import dagster as dg
    import httpx

    url = base_url(emu)
    with client(url, conc) as c:
        for key in ("bench-seq", "bench-asset"):
            setup_project(c, key)
        c.create_interaction("bench-seq", [{"role": "user", "content": "warm up"}], "ok")
        items = [body("bench-seq", i) for i in range(n_seq)]
        t0, c0 = time.perf_counter(), time.process_time()
        for b in items:
            c.create_interaction("bench-seq", b["messages"], b["completion"],
                                 feedbacks=[{"feedback_key": FEEDBACK, "value": b["feedbacks"][0]["value"]}],
                                 labels=b["labels"])
        seq_secs, seq_cpu = time.perf_counter() - t0, time.process_time() - c0
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as bare:
        post = f"{url}/api/v1/interactions"
        bare.post(post, json=body("bench-seq", -1)).raise_for_status()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n_seq):
            bare.post(post, json=body("bench-seq", n_seq + i)).raise_for_status()
        bare_secs, bare_cpu = time.perf_counter() - t0, time.process_time() - c0

    instance = dg.DagsterInstance.ephemeral()
    # built (and the Dagster parts of the package imported) before the clock starts
    defs, resources = assets(n, "bench_interactions", "bench-asset"), {"adaptive": resource(url, conc),
                                                                      "io_manager": dg.mem_io_manager}
    with SpanTimer("interactions_with_label") as lookup, SpanTimer("create_interaction") as logging_span:
        t0, c0, e0 = time.perf_counter(), time.process_time(), emu.cpu_seconds()
        result = dg.materialize(defs, instance=instance, resources=resources,
                                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        seconds = time.perf_counter() - t0
        client_cpu, emu_cpu = time.process_time() - c0, emu.cpu_seconds() - e0
    step = next(s for s in instance.get_run_step_stats(result.run_id) if s.step_key == "bench_interactions")
    step_seconds = (step.end_time or 0) - (step.start_time or 0)
    out = result.output_for_node("bench_interactions")
    with client(url, conc) as c:
        on_emulator = len(c.list_interactions("bench-asset", first=10 * n))
    return {"rate": n / step_seconds, "run_rate": n / seconds, "step_seconds": step_seconds,
            "seq_rate": n_seq / seq_secs, "bare_seq_rate": n_seq / bare_secs,
            "seq_cpu_ms": 1000 * seq_cpu / n_seq, "bare_cpu_ms": 1000 * bare_cpu / n_seq,
            "lookup_seconds": lookup.seconds, "lookup_calls": lookup.calls, "logging_seconds": logging_span.seconds,
            "failed": int(out["error"].notna().sum()), "logged": int(out["completion_id"].notna().sum()),
            "on_emulator": on_emulator, "client_cpu_ms": 1000 * client_cpu / n, "emu_cpu_ms": 1000 * emu_cpu / n}


# -- 2. faults ----------------------------------------------------------------------------------------------
def census(c: Any, project: str, name: str, n: int) -> dict[str, int]:
    """Interactions of ``project`` with the asset's ``dagster_row`` label: listed, distinct, duplicates, missing."""
    from dagster_labeling.adaptive.assets import ROW_LABEL

    listed: list[Any] = []
    for _ in range(5):
        try:
            listed = c.list_interactions(project, first=100 * n)
            break
        except Exception:
            continue
    values = [lab.value for i in listed for lab in i.labels if lab.key == ROW_LABEL]
    counts = Counter(values)
    want = {f"{name}/r{i}" for i in range(n)}
    return {"listed": len(listed), "labeled": len(values), "distinct": len(counts),
            "duplicates": len(values) - len(counts), "missing": len(want - set(counts)),
            "unexpected": len(set(counts) - want)}


def bench_faults(emu: Any, n: int, conc: int) -> dict[str, Any]:
    import dagster as dg

    url = base_url(emu)
    retries = {"n": 0, "resent": 0}

    class CountRetries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                retries["n"] += 1
            elif "sending it again" in record.getMessage():  # looked up after a lost answer: absent, re-sent
                retries["resent"] += 1

    logs = [logging.getLogger("dagster_labeling.http"), logging.getLogger("dagster_labeling.adaptive")]
    counter = CountRetries()
    for log in logs:
        log.addHandler(counter)
    name, project = "bench_faulted", "bench-faults"
    runs: list[dict[str, Any]] = []
    try:
        with client(url, conc) as c:
            setup_project(c, project)
        defs = assets(n, name, project)
        res = resource(url, conc)
        t0 = time.perf_counter()
        while len(runs) < MAX_RUNS:
            r0 = retries["n"]
            result = dg.materialize(defs, resources={"adaptive": res, "io_manager": dg.mem_io_manager},
                                    raise_on_error=False,
                                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
            failed, error = 0, ""
            for event in result.get_step_failure_events():
                data = event.step_failure_data.user_failure_data
                if data is not None:
                    failed = int(getattr(data.metadata.get("failed_count"), "value", 0) or 0)
                else:
                    err = event.step_failure_data.error
                    error = (err.message if err else "")[:200]
            runs.append({"success": result.success, "failed": failed, "error": error, "retries": retries["n"] - r0})
            if result.success:
                break
        seconds = time.perf_counter() - t0
        with client(url, conc) as c:
            counts = census(c, project, name, n)
    finally:
        for log in logs:
            log.removeHandler(counter)
    return {"runs": runs, "seconds": seconds, "resent": retries["resent"], **counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rows", type=int, default=None, help="Rows of the asset run (2,000; quick 400).")
    parser.add_argument("--sequential", type=int, default=None, help="Sequential sample (100; quick 40).")
    parser.add_argument("--fault-rows", type=int, default=None, help="Rows of the fault runs (1,000; quick 200).")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32, help="The resource's max_concurrency.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: logging,faults.")
    args = parser.parse_args(argv)
    for logger_name in ("dagster_labeling.http", "dagster_labeling.bulk", "dagster_labeling.adaptive"):
        logging.getLogger(logger_name).propagate = False  # retries are counted, failures reported, not printed
        logging.getLogger(logger_name).addHandler(logging.NullHandler())  # (else logging's last resort prints)
    n = args.rows or (400 if args.quick else 2000)
    n_seq = args.sequential or (40 if args.quick else 100)
    n_fault = args.fault_rows or (200 if args.quick else 1000)
    skip = set(filter(None, args.skip.split(",")))
    lat, conc = args.latency_ms, args.concurrency
    ceiling = conc / (lat / 1000) if lat > 0 else float("inf")
    ncpu = os.cpu_count() or 1
    rep = Report()
    rep.head(f"dagster-labeling bench, Adaptive ML: emulator in a separate process, {lat:g} ms latency per request, "
             f"{conc} in flight, {ncpu} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    if "logging" not in skip:
        with emulator(lat) as emu:
            r = bench_logging(emu, n, n_seq, conc)
        queries = math.ceil(n / LOOKUP_CHUNK)
        create_secs = r["step_seconds"] - r["lookup_seconds"]
        rep.head(f"\nLogging {n:,} rows as interactions (dg.materialize of build_adaptive_interactions_asset: "
                 f"label lookup, then run_bulk of create_interaction)")
        rep.row("asset step rows/s", f"{r['rate']:,.0f}")
        rep.row("whole dg.materialize rows/s (incl. Dagster start-up)", f"{r['run_rate']:,.0f}")
        rep.row(f"sequential rows/s (loop of create_interaction, {n_seq})", f"{r['seq_rate']:,.1f}")
        rep.row(f"ceiling rows/s ({conc} in flight / {lat:g} ms)", f"{ceiling:,.0f}")
        rep.row("asset / ceiling", f"{r['rate'] / ceiling:.2f}", "goal >= 0.8", verdict(r["rate"] / ceiling >= 0.8))
        rep.row("asset / sequential (speed-up)", f"{r['rate'] / r['seq_rate']:.1f}x")
        rep.row(f"label lookup: seconds / queries (1 per {LOOKUP_CHUNK} rows)",
                f"{r['lookup_seconds']:.2f} / {r['lookup_calls']}")
        rep.row("label lookup share of the asset step", f"{r['lookup_seconds'] / r['step_seconds']:.0%}")
        rep.row("logging phase rows/s (first to last create_interaction)", f"{n / r['logging_seconds']:,.0f}")
        rep.row("logging phase / ceiling", f"{n / r['logging_seconds'] / ceiling:.2f}")
        rep.row("rest of the step (s: input, rows to requests, output, Dagster)",
                f"{create_secs - r['logging_seconds']:.2f}")
        best = n / (math.ceil(queries / conc) * lat / 1000 + n / ceiling) if lat > 0 else float("inf")
        rep.row("ceiling with the lookup (concurrent queries' latency + n / ceiling)", f"{best:,.0f}")
        rep.row("asset / ceiling with the lookup", f"{r['rate'] / best:.2f}")
        rep.row("client / emulator CPU per row (ms, whole materialize)",
                f"{r['client_cpu_ms']:.2f} / {r['emu_cpu_ms']:.2f}")
        need = ceiling * (r["client_cpu_ms"] + r["emu_cpu_ms"]) / 1000
        rep.row("CPU cores needed to reach the ceiling", f"{need:.2f}", f"have {ncpu}")
        rep.row("client CPU per request, one at a time: ours / bare httpx (ms)",
                f"{r['seq_cpu_ms']:.2f} / {r['bare_cpu_ms']:.2f}")
        rep.row("bare httpx sequential rows/s (same body)", f"{r['bare_seq_rate']:,.1f}")
        ok = r["failed"] == 0 and r["logged"] == n and r["on_emulator"] == n
        rep.row("logged / failed / interactions on the emulator", f"{r['logged']:,} / {r['failed']} / "
                f"{r['on_emulator']:,}", f"goal {n:,} / 0 / {n:,}", verdict(ok))
        rep.correctness_ok &= ok

    if "faults" not in skip:
        with emulator(lat, args.fault_rate, args.fault_seed) as emu_f:
            f = bench_faults(emu_f, n_fault, conc)
        runs = f["runs"]
        rep.head(f"\nFaults: {args.fault_rate:.0%} of requests 429/500/503/slow/dropped before or after processing "
                 f"(seed {args.fault_seed}), {n_fault:,} rows, one dg.materialize (re-run only if it fails, at most "
                 f"{MAX_RUNS})")
        rep.row("runs needed / succeeded", f"{len(runs)} / {runs[-1]['success']}", "goal 1 / True",
                verdict(len(runs) == 1 and runs[-1]["success"]))
        rep.row("rows failed per run (failed_count)", " → ".join(str(x["failed"]) for x in runs))
        errors = [x["error"] for x in runs if x["error"]]
        if errors:
            rep.row("runs failed by an error (not failed rows)", f"{len(errors)}")
            rep.head(f"      first: {errors[0]}")
        rep.row("retries logged by the client (all runs)", f"{sum(x['retries'] for x in runs):,}")
        rep.row("interactions looked up after a lost answer and re-sent", f"{f['resent']:,}")
        rep.row("seconds (all runs)", f"{f['seconds']:.1f}")
        rep.row("interactions with the dagster_row label", f"{f['labeled']:,}", f"goal {n_fault:,}",
                verdict(f["labeled"] == n_fault))
        rep.row("distinct row labels", f"{f['distinct']:,}")
        rep.row("duplicates", f"{f['duplicates']}", "goal 0", verdict(f["duplicates"] == 0))
        rep.row("missing", f"{f['missing']}", "goal 0", verdict(f["missing"] == 0))
        ok = len(runs) == 1 and runs[-1]["success"] and f["duplicates"] == 0 and f["missing"] == 0 \
            and f["unexpected"] == 0
        rep.correctness_ok &= ok

    rep.head(f"\nload average at end {os.getloadavg()[0]:.1f}; timings are not asserted. "
             f"Correctness: {'OK' if rep.correctness_ok else 'FAILED'}")
    return 0 if rep.correctness_ok else 1


if __name__ == "__main__":
    sys.exit(main())
