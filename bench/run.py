"""Benchmarks of bulk task creation against the Scale emulator (run in a separate process).

    python -m bench                       # full: 10,000 tasks, 2,000-row fault and kill runs, 50 ms latency
    python -m bench --quick               # reduced: 1,000 tasks, 200-row fault and kill runs
    python bench/run.py --latency-ms 100 --tasks 5000

Timing goals are printed with PASS/MISS but never fail the command; correctness figures (missing,
duplicated tasks) do make it exit 1, since they are not a matter of speed.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

API_KEY = "emulator-key"
PROJECT = "bench"
PAYLOAD = {"instruction": "Sentiment?", "attachment_type": "text", "attachment": "Great phone",
           "categories": ["positive", "negative"]}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (from /proc); NaN once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# -- the emulator, in its own process ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    proc: subprocess.Popen
    port: int
    latency_ms: float
    fault_rate: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/scale/v1"

    def cpu_seconds(self) -> float:
        """User + system CPU of the emulator process so far (from /proc)."""
        return process_cpu_seconds(self.proc.pid)


@contextmanager
def emulator(latency_ms: float, fault_rate: float = 0.0, fault_seed: int = 0) -> Iterator[Emulator]:
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "dagster_labeling.testing", "--port", str(port), "--latency-ms", str(latency_ms),
           "--fault-rate", str(fault_rate), "--fault-seed", str(fault_seed), "--api-key", API_KEY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"emulator did not start: {' '.join(cmd)}")
            time.sleep(0.05)
        yield Emulator(proc, port, latency_ms, fault_rate)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def client(emu: Emulator, **kwargs):
    from dagster_labeling.scale import ScaleClient

    return ScaleClient(API_KEY, base_url=emu.base_url, **kwargs)


def setup_batch(scale, batch: str) -> None:
    from dagster_labeling.scale.errors import ScaleDuplicateResource

    try:
        scale.create_project(PROJECT, "categorization")
    except ScaleDuplicateResource:
        pass
    scale.get_or_create_batch(PROJECT, batch)


def census(scale, batch: str, expected: list[str]) -> dict[str, int]:
    """Tasks in the batch (Scale API count and listing), distinct unique_ids, missing and unexpected ones."""
    tasks = list(scale.get_tasks(batch=batch, include_attachment_url=False))
    uids = [t.unique_id for t in tasks]
    distinct = set(uids)
    want = set(expected)
    return {
        "count_api": scale.get_tasks_count(batch=batch),
        "listed": len(tasks),
        "distinct": len(distinct),
        "duplicates": len(uids) - len(distinct),
        "missing": len(want - distinct),
        "unexpected": len(distinct - want),
    }


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- throughput ----------------------------------------------------------------------------------------
@dataclass
class Throughput:
    n: int
    seconds: float
    client_cpu: float
    emu_cpu: float
    created: int
    failed: int
    rss_delta_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def per_request_ms(self, cpu: float) -> float:
        return 1000 * cpu / self.n


def measure_bulk(emu: Emulator, batch: str, n: int, concurrency: int | None = None) -> Throughput:
    with client(emu) as scale:
        setup_batch(scale, batch)
        items = [(f"{batch}/{i}", PAYLOAD) for i in range(n)]
        rss0 = _rss_peak_mb()
        c0, e0, t0 = time.process_time(), emu.cpu_seconds(), time.perf_counter()
        result = scale.create_tasks("categorization", items, batch=batch, project=PROJECT, resume=False,
                                    concurrency=concurrency)
        seconds = time.perf_counter() - t0
        out = Throughput(n, seconds, time.process_time() - c0, emu.cpu_seconds() - e0, len(result.created),
                         len(result.failures), _rss_peak_mb() - rss0)
        got = scale.get_tasks_count(batch=batch)
        if got != n:
            print(f"  !! bulk: {got} tasks on the emulator for {n} items", flush=True)
        return out


def measure_sequential(emu: Emulator, batch: str, n: int) -> Throughput:
    with client(emu) as scale:
        setup_batch(scale, batch)
        c0, e0, t0 = time.process_time(), emu.cpu_seconds(), time.perf_counter()
        for i in range(n):
            scale.create_task("categorization", unique_id=f"{batch}/{i}", batch=batch, project=PROJECT, **PAYLOAD)
        return Throughput(n, time.perf_counter() - t0, time.process_time() - c0, emu.cpu_seconds() - e0, n, 0)


# -- faults and kill, through the real asset -----------------------------------------------------------
def child_materialize(base_url: str, batch: str, rows: int) -> int:
    """Materialize ``build_scale_batch_asset`` over ``rows`` rows; print a summary line; exit 0 either way."""
    import json

    import dagster as dg
    import pandas as pd

    from dagster_labeling.scale import ScaleResource, build_scale_batch_asset

    retries = {"n": 0}

    class CountRetries(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "retrying" in record.getMessage():
                retries["n"] += 1

    logging.getLogger("dagster_labeling.http").addHandler(CountRetries())

    @dg.asset(name="bench_rows")
    def bench_rows():
        return pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "text": [f"row {i}" for i in range(rows)]})

    batch_asset = build_scale_batch_asset(
        name="bench_batch", upstream=bench_rows, project=PROJECT, task_type="categorization",
        row_key_column="id", payload_columns={"attachment": "text"},
        static_payload={"instruction": "Sentiment?", "attachment_type": "text",
                        "categories": ["positive", "negative"]},
        batch_name_prefix=batch,
    )
    scale = ScaleResource(api_key=API_KEY, base_url=base_url)
    with scale.get_client() as c:
        setup_batch(c, "__warmup__")  # the project must exist; the asset creates the batch itself
    result = dg.materialize([bench_rows, batch_asset], resources={"scale": scale}, raise_on_error=False)
    summary: dict = {"success": result.success, "retries": retries["n"], "failed_count": 0, "failed_listed": 0,
                     "failed_rows": ""}
    for event in result.get_step_failure_events():
        data = event.step_failure_data.user_failure_data
        if data is not None:
            meta = data.metadata
            md = getattr(meta.get("failed_rows"), "value", "") or ""
            summary["failed_rows"] = md
            rows = md.splitlines()[2:]
            summary["failed_listed"] = sum(1 for line in rows if line.startswith("| ") and "…" not in line)
            summary["failed_count"] = int(getattr(meta.get("failed_count"), "value", 0) or 0)
        else:
            summary["error"] = str(event.step_failure_data.error.message if event.step_failure_data.error else "")[:300]
    if result.success:
        out = result.output_for_node("bench_batch")
        summary["rows_out"] = len(out)
    print("RESULT " + json.dumps(summary), flush=True)
    return 0


def _child_cmd(emu: Emulator, batch: str, rows: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child-materialize", emu.base_url, batch, str(rows)]


def run_child(emu: Emulator, batch: str, rows: int) -> tuple[dict, float]:
    import json

    t0 = time.perf_counter()
    proc = subprocess.run(_child_cmd(emu, batch, rows), capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"child failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):]), seconds


def kill_midway(emu: Emulator, batch: str, rows: int, scale) -> dict:
    """Start the child, SIGKILL it once the emulator shows some but not all tasks (Scale API count)."""
    proc = subprocess.Popen(_child_cmd(emu, batch, rows), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)
    target = max(1, rows // 3)
    seen = 0
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = scale.get_tasks_count(batch=batch)
            except Exception:  # the batch may not exist yet
                seen = 0
            if seen >= target:
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.5)  # let requests already on the wire land
    return {"at_kill": seen, "after_kill": scale.get_tasks_count(batch=batch), "exit": proc.returncode}


# -- report --------------------------------------------------------------------------------------------
@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    correctness_ok: bool = True

    def row(self, name: str, value: str, goal: str = "", verdict: str = "") -> None:
        line = f"  {name:<54} {value:>16}   {goal:<26} {verdict}"
        self.lines.append(line.rstrip())
        print(line.rstrip(), flush=True)

    def head(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    # -- other platforms' benchmarks live in their own modules: python -m bench llm-engine [--quick] --------
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "llm-engine":
        from bench.llm_engine import main as llm_engine_main

        return llm_engine_main(argv[1:])
    if argv and argv[0] == "refuel":  # python -m bench refuel [--quick]
        from bench.refuel import main as refuel_main

        return refuel_main(argv[1:])
    if argv and argv[0] == "argilla":  # python -m bench argilla [--quick]
        from bench.argilla import main as argilla_main

        return argilla_main(argv[1:])
    if argv and argv[0] == "adaptive":  # python -m bench adaptive [--quick]
        from bench.adaptive import main as adaptive_main

        return adaptive_main(argv[1:])
    # -------------------------------------------------------------------------------------------------------
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="Simulated latency per request.")
    parser.add_argument("--tasks", type=int, default=None, help="Tasks of the bulk run (default 10,000; quick 1,000).")
    parser.add_argument("--sequential", type=int, default=None, help="Tasks of the sequential sample (300; quick 100).")
    parser.add_argument("--fault-rows", type=int, default=None,
                        help="Rows of the fault and kill runs (2,000; quick 200).")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--fault-seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32, help="In flight (the client's default is 32).")
    parser.add_argument("--quick", action="store_true", help="Reduced sizes; well under a minute.")
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: capacity,faults,kill.")
    parser.add_argument("--child-materialize", nargs=3, metavar=("BASE_URL", "BATCH", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_materialize:
        base_url, batch, rows = args.child_materialize
        return child_materialize(base_url, batch, int(rows))

    logging.getLogger("dagster_labeling.http").setLevel(logging.ERROR)  # retries are counted, not printed
    n = args.tasks or (1000 if args.quick else 10_000)
    n_seq = args.sequential or (100 if args.quick else 300)
    n_fault = args.fault_rows or (200 if args.quick else 2000)
    skip = set(filter(None, args.skip.split(",")))
    conc = args.concurrency
    lat = args.latency_ms
    ceiling = conc / (lat / 1000) if lat > 0 else float("inf")
    ncpu = os.cpu_count() or 1
    stamp = time.strftime("%H%M%S")
    rep = Report()
    rep.head(f"dagster-labeling bench: Scale emulator in a separate process, {lat:g} ms latency per request, "
             f"{conc} in flight, {ncpu} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    # 1. throughput ---------------------------------------------------------------------------------
    with emulator(lat) as emu:
        seq = measure_sequential(emu, f"seq-{stamp}", n_seq)
        bulk = measure_bulk(emu, f"bulk-{stamp}", n, conc)
    rep.head(f"\nBulk task creation ({n:,} tasks, ScaleClient.create_tasks → run_bulk)")
    rep.row("bulk tasks/s", f"{bulk.rate:,.0f}")
    rep.row(f"sequential tasks/s (loop of create_task, {n_seq} tasks)", f"{seq.rate:,.0f}")
    rep.row(f"ceiling tasks/s ({conc} in flight / {lat:g} ms)", f"{ceiling:,.0f}")
    rep.row("bulk / ceiling", f"{bulk.rate / ceiling:.2f}", "goal >= 0.8", verdict(bulk.rate / ceiling >= 0.8))
    rep.row("bulk / sequential (speed-up)", f"{bulk.rate / seq.rate:.1f}x", f"goal >= {0.8 * conc:.0f}x",
            verdict(bulk.rate / seq.rate >= 0.8 * conc))
    rep.row("created / failed", f"{bulk.created:,} / {bulk.failed}")
    rep.row("peak RSS growth during the bulk run (MiB)", f"{bulk.rss_delta_mb:.1f}")
    rep.row("peak RSS of the bench process (MiB)", f"{_rss_peak_mb():.0f}")
    rep.row("client CPU per request (ms)", f"{bulk.per_request_ms(bulk.client_cpu):.2f}")
    rep.row("emulator CPU per request (ms)", f"{bulk.per_request_ms(bulk.emu_cpu):.2f}")
    need = ceiling * (bulk.client_cpu + bulk.emu_cpu) / bulk.n
    rep.row("CPU cores needed to reach the ceiling", f"{need:.2f}", f"have {ncpu}", "")
    cpu_bound = ncpu / ((bulk.client_cpu + bulk.emu_cpu) / bulk.n)
    rep.row("CPU-bound limit (cores / CPU per request)", f"{cpu_bound:,.0f}")

    # 2. emulator capacity at 0 latency ------------------------------------------------------------------
    if "capacity" not in skip:
        n_cap = 300 if args.quick else max(500, n // 5)
        with emulator(0.0) as emu0:
            cap = measure_bulk(emu0, f"cap-{stamp}", n_cap, conc)
        rep.head(f"\nNo latency ({n_cap:,} tasks, {conc} in flight): what the two processes sustain on this machine")
        rep.row("bulk tasks/s at 0 ms", f"{cap.rate:,.0f}", f"vs ceiling {ceiling:,.0f}",
                "CPU-BOUND" if cap.rate < ceiling else "")
        rep.row("client CPU per request (ms)", f"{cap.per_request_ms(cap.client_cpu):.2f}")
        rep.row("emulator CPU per request (ms)", f"{cap.per_request_ms(cap.emu_cpu):.2f}")
        rep.row("emulator busy share of one core", f"{cap.emu_cpu / cap.seconds:.2f}")
        rep.row("load average now", f"{os.getloadavg()[0]:.1f}")

    # 3. faults, through the asset ----------------------------------------------------------------------
    if "faults" not in skip or "kill" not in skip:
        with emulator(lat, args.fault_rate, args.fault_seed) as emu_f, client(emu_f) as scale:
            setup_batch(scale, "__warmup__")
            expected = lambda batch: [f"{batch}/r{i}" for i in range(n_fault)]  # noqa: E731  unique_id_for
            if "faults" not in skip:
                batch = f"faults-{stamp}"
                first, secs = run_child(emu_f, batch, n_fault)
                c1 = census(scale, batch, expected(batch))
                rep.head(f"\nFaults: {args.fault_rate:.0%} of requests 429/500/503/slow/dropped before or after "
                         f"processing (seed {args.fault_seed}), {n_fault:,} rows, dg.materialize of "
                         "build_scale_batch_asset")
                rep.row("rows", f"{n_fault:,}")
                rep.row("retries logged by the client", f"{first['retries']:,}")
                rep.row("run succeeded / seconds", f"{first['success']} / {secs:.1f}")
                rep.row("tasks on the emulator (get_tasks_count)", f"{c1['count_api']:,}")
                rep.row("distinct unique_ids among listed tasks", f"{c1['distinct']:,}")
                rep.row("duplicates", f"{c1['duplicates']}", "goal 0", verdict(c1["duplicates"] == 0))
                rep.row("missing", f"{c1['missing']}", "goal = failed rows listed",
                        verdict(c1["missing"] == first["failed_count"]))
                rep.row("failed rows (Failure metadata failed_count)", f"{first['failed_count']}")
                rep.row("failed rows listed in failed_rows table", f"{first['failed_listed']}",
                        "goal = failed_count", verdict(first["failed_listed"] == min(first["failed_count"], 50)))
                ok = c1["duplicates"] == 0 and c1["unexpected"] == 0 and c1["missing"] == first["failed_count"]
                if first["failed_count"]:
                    for line in first["failed_rows"].splitlines()[2:7]:
                        rep.head(f"      {line}")
                    again, _ = run_child(emu_f, batch, n_fault)
                    c1 = census(scale, batch, expected(batch))
                    rep.row("after a re-run: tasks / missing / dups", f"{c1['count_api']:,} / {c1['missing']} / "
                            f"{c1['duplicates']}", f"goal {n_fault:,} / 0 / 0",
                            verdict(c1["count_api"] == n_fault and not c1["missing"] and not c1["duplicates"]))
                    ok = ok and c1["duplicates"] == 0
                rep.correctness_ok &= ok
            if "kill" not in skip:
                batch = f"kill-{stamp}"
                k = kill_midway(emu_f, batch, n_fault, scale)
                rerun, secs = run_child(emu_f, batch, n_fault)
                rounds = 1
                while not rerun["success"] and rounds < 3:  # rows that finally failed: re-run, as the message says
                    rerun, secs = run_child(emu_f, batch, n_fault)
                    rounds += 1
                c2 = census(scale, batch, expected(batch))
                rep.head(f"\nKill and re-run: SIGKILL of the materializing process mid-way ({n_fault:,} rows, same "
                         "faults), then dg.materialize again")
                rep.row("tasks when killed (Scale API count)", f"{k['at_kill']:,}", f"0 < x < {n_fault:,}",
                        verdict(0 < k["after_kill"] < n_fault))
                rep.row("tasks after the kill settled", f"{k['after_kill']:,}")
                rep.row("re-run(s) succeeded / rows out / runs", f"{rerun['success']} / {rerun.get('rows_out', 0):,}"
                        f" / {rounds}")
                rep.row("tasks on the emulator after the re-run", f"{c2['count_api']:,}", f"goal {n_fault:,}",
                        verdict(c2["count_api"] == n_fault))
                rep.row("duplicates / missing", f"{c2['duplicates']} / {c2['missing']}", "goal 0 / 0",
                        verdict(c2["duplicates"] == 0 and c2["missing"] == 0))
                rep.correctness_ok &= c2["count_api"] == n_fault and c2["duplicates"] == 0 and c2["missing"] == 0

    rep.head(f"\nload average at end {os.getloadavg()[0]:.1f}; timings are not asserted. "
             f"Correctness: {'OK' if rep.correctness_ok else 'FAILED'}")
    return 0 if rep.correctness_ok else 1


if __name__ == "__main__":
    sys.exit(main())
