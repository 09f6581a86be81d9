"""Benchmarks of the LLM Engine integration against its emulator (run in a separate process).

    python -m bench.llm_engine            # 2,000 completions, 300 streams, a 200 MB upload; 50 ms latency
    python -m bench.llm_engine --quick    # 400 completions, 100 streams, a 50 MB upload
    python -m bench llm-engine [--quick]  # the same, through bench/run.py

Every figure is a ratio against a baseline measured in the same run:

1. Completions through ``build_llm_engine_completions_asset``'s concurrent path (``dg.materialize``) against a
   sequential loop of ``complete`` and against the ceiling (in flight ÷ latency; goal >= 0.8 of it).
2. Streaming: time from the first byte on the wire to the first chunk our iterator yields, against a bare
   httpx stream reader on the same connection setup (goal: within 2 ms at the median).
3. Uploading a large training file: peak RSS growth of a fresh process during ``upload_file`` (goal < 50 MB),
   beside the official SDK's ``File.upload`` (``requests`` builds the multipart body in memory).

Timing goals print PASS/MISS and never fail the command.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import API_KEY, Report, emulator, verdict  # noqa: E402

MODEL = "llama-2-7b"


def base_url(emu: Any) -> str:
    return f"http://127.0.0.1:{emu.port}/llm-engine/"


# -- 1. completions ------------------------------------------------------------------------------------
def bench_completions(emu: Any, n: int, n_seq: int, concurrency: int) -> dict[str, float]:
    import dagster as dg
    import pandas as pd

    from dagster_labeling.llm_engine import LLMEngineClient, LLMEngineResource, build_llm_engine_completions_asset

    url = base_url(emu)
    with LLMEngineClient(API_KEY, base_url=url) as llm:
        llm.complete(MODEL, "warm up", max_new_tokens=4)
        t0 = time.perf_counter()
        for i in range(n_seq):
            llm.complete(MODEL, f"sequential prompt {i}", max_new_tokens=8)
        seq_rate = n_seq / (time.perf_counter() - t0)

    @dg.asset(name="bench_prompts")
    def bench_prompts() -> pd.DataFrame:
        return pd.DataFrame({"prompt": [f"Prompt number {i}: say something" for i in range(n)]})

    answers = build_llm_engine_completions_asset(name="bench_answers", upstream=bench_prompts, model=MODEL,
                                                 mode="concurrent", concurrency=concurrency, max_new_tokens=8)
    resource = LLMEngineResource(api_key=API_KEY, base_url=url, max_concurrency=concurrency)
    instance = dg.DagsterInstance.ephemeral()
    t0, c0, e0 = time.perf_counter(), time.process_time(), emu.cpu_seconds()
    result = dg.materialize([bench_prompts, answers], instance=instance,
                            resources={"llm_engine": resource, "io_manager": dg.mem_io_manager},
                            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    seconds = time.perf_counter() - t0
    client_cpu, emu_cpu = time.process_time() - c0, emu.cpu_seconds() - e0
    step = next(s for s in instance.get_run_step_stats(result.run_id) if s.step_key == "bench_answers")
    step_seconds = (step.end_time or 0) - (step.start_time or 0)
    frame = result.output_for_node("bench_answers")
    return {"rate": n / step_seconds, "run_rate": n / seconds, "seq_rate": seq_rate,
            "failed": int(frame["error"].notna().sum()), "client_cpu_ms": 1000 * client_cpu / n,
            "emu_cpu_ms": 1000 * emu_cpu / n}


# -- 2. streaming latency ------------------------------------------------------------------------------
def bench_streaming(url: str, streams: int) -> dict[str, float]:
    import httpx

    from dagster_labeling.llm_engine import LLMEngineClient, completion_body

    first_byte: list[float] = []

    class Stamped(httpx.SyncByteStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __iter__(self) -> Any:
            first = True
            for chunk in self.inner:
                if first:
                    first_byte.append(time.perf_counter())
                    first = False
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class StampingTransport(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            return httpx.Response(response.status_code, headers=response.headers,
                                  stream=Stamped(response.stream), extensions=response.extensions)

    def ours(llm: LLMEngineClient, i: int) -> float:
        first_byte.clear()
        it = llm.stream_completion(MODEL, f"stream prompt {i}", max_new_tokens=4)
        next(it)
        got = time.perf_counter()
        for _ in it:
            pass
        return (got - first_byte[0]) * 1000

    body = completion_body("x", max_new_tokens=4)

    def bare(client: httpx.Client, i: int) -> float:
        first_byte.clear()
        with client.stream("POST", url + "v1/llm/completions-stream", params={"model_endpoint_name": MODEL},
                           json={**body, "prompt": f"stream prompt {i}"}) as r:
            got = None
            for line in r.iter_lines():
                if line.startswith("data:") and got is None:
                    json.loads(line[5:])
                    got = time.perf_counter()
        assert got is not None
        return (got - first_byte[0]) * 1000

    with LLMEngineClient(API_KEY, base_url=url, transport=StampingTransport()) as llm, \
            httpx.Client(auth=(API_KEY, ""), transport=StampingTransport()) as client:
        ours(llm, -1), bare(client, -1)
        ours_ms, bare_ms = [], []
        for i in range(streams):  # interleaved, so both see the same machine load
            ours_ms.append(ours(llm, i))
            bare_ms.append(bare(client, i))
    return {"ours_median_ms": statistics.median(ours_ms), "bare_median_ms": statistics.median(bare_ms),
            "ours_p90_ms": statistics.quantiles(ours_ms, n=10)[-1],
            "bare_p90_ms": statistics.quantiles(bare_ms, n=10)[-1]}


# -- 3. upload memory (each in a fresh process) --------------------------------------------------------
def _child_upload(url: str, path: str, how: str) -> None:
    def peak_mb() -> float:
        # VmHWM belongs to this process's address space; ru_maxrss would carry the parent's peak over the fork.
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/self/status")

    if how == "ours":
        from dagster_labeling.llm_engine import LLMEngineClient

        client = LLMEngineClient(API_KEY, base_url=url)
        client.list_files()
        before = peak_mb()
        t0 = time.perf_counter()
        fid = client.upload_file(path)
    else:
        os.environ.update({"LLM_ENGINE_DISABLE_VERSION_CHECK": "1", "LLM_ENGINE_BASE_PATH": url,
                           "SCALE_API_KEY": API_KEY})
        from llmengine import File

        File.list()
        before = peak_mb()
        t0 = time.perf_counter()
        try:
            with open(path, "rb") as fh:
                fid = File.upload(fh).id
        except Exception as exc:  # its 10 s timeout may fire; the body was built in memory by then
            fid = f"failed after the body was built: {type(exc).__name__}"
    print(json.dumps({"delta_mb": peak_mb() - before, "seconds": time.perf_counter() - t0, "id": fid}))


def bench_upload(url: str, size_mb: int, sdk: bool) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp()) / "training.csv"
    line = b"What is the refund policy for an order that arrived late?,Refunds are issued within 5 days.\n"
    with open(path, "wb") as fh:
        fh.write(b"prompt,response\n")
        block = line * ((1 << 20) // len(line) + 1)
        while fh.tell() < size_mb * (1 << 20):
            fh.write(block)
    out: dict[str, Any] = {"bytes": path.stat().st_size}
    try:
        for how in ("ours", "sdk") if sdk else ("ours",):
            proc = subprocess.run([sys.executable, "-m", "bench.llm_engine", "--child-upload", url, str(path), how],
                                  capture_output=True, text=True, cwd=ROOT, timeout=600)
            if proc.returncode != 0:
                out[how] = {"error": proc.stderr.strip().splitlines()[-1:]}
            else:
                out[how] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        path.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--completions", type=int, default=None, help="Rows of the asset run (2,000; quick 400).")
    parser.add_argument("--sequential", type=int, default=None, help="Sequential sample (100; quick 40).")
    parser.add_argument("--streams", type=int, default=None, help="Streams per client (300; quick 100).")
    parser.add_argument("--upload-mb", type=int, default=None, help="Upload size in MB (200; quick 50).")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-sdk-upload", action="store_true", help="Skip the SDK's upload (it buffers it all).")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child-upload", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_upload:
        _child_upload(*args.child_upload)
        return 0
    n = args.completions or (400 if args.quick else 2000)
    n_seq = args.sequential or (40 if args.quick else 100)
    streams = args.streams or (100 if args.quick else 300)
    size_mb = args.upload_mb or (50 if args.quick else 200)
    lat, conc = args.latency_ms, args.concurrency
    ceiling = conc / (lat / 1000) if lat > 0 else float("inf")
    rep = Report()
    rep.head(f"dagster-labeling bench, LLM Engine: emulator in a separate process, {lat:g} ms latency per request, "
             f"{conc} in flight, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    with emulator(lat) as emu:
        c = bench_completions(emu, n, n_seq, conc)
    rep.head(f"\nCompletions ({n:,} prompts, dg.materialize of build_llm_engine_completions_asset, concurrent path)")
    rep.row("asset step completions/s", f"{c['rate']:,.0f}")
    rep.row("whole dg.materialize completions/s (incl. Dagster start-up)", f"{c['run_rate']:,.0f}")
    rep.row(f"sequential completions/s (loop of complete, {n_seq})", f"{c['seq_rate']:,.1f}")
    rep.row(f"ceiling completions/s ({conc} in flight / {lat:g} ms)", f"{ceiling:,.0f}")
    rep.row("asset / ceiling", f"{c['rate'] / ceiling:.2f}", "goal >= 0.8", verdict(c["rate"] / ceiling >= 0.8))
    rep.row("asset / sequential (speed-up)", f"{c['rate'] / c['seq_rate']:.1f}x")
    rep.row("failed rows", f"{c['failed']}")
    rep.row("client / emulator CPU per completion (ms)", f"{c['client_cpu_ms']:.2f} / {c['emu_cpu_ms']:.2f}")
    need = ceiling * (c["client_cpu_ms"] + c["emu_cpu_ms"]) / 1000
    rep.row("CPU cores needed to reach the ceiling", f"{need:.2f}", f"have {os.cpu_count()}")

    with emulator(0.0) as emu0:
        s = bench_streaming(base_url(emu0), streams)
        up = bench_upload(base_url(emu0), size_mb, sdk=not args.no_sdk_upload)
    rep.head(f"\nStreaming ({streams} streams each, interleaved): first byte on the wire → first chunk yielded")
    rep.row("ours, median / p90 (ms)", f"{s['ours_median_ms']:.3f} / {s['ours_p90_ms']:.3f}")
    rep.row("bare httpx stream reader, median / p90 (ms)", f"{s['bare_median_ms']:.3f} / {s['bare_p90_ms']:.3f}")
    diff = s["ours_median_ms"] - s["bare_median_ms"]
    rep.row("ours − bare at the median (ms)", f"{diff:+.3f}", "goal <= 2 ms", verdict(diff <= 2.0))

    rep.head(f"\nUpload of a {up['bytes'] / 1e6:,.0f} MB training CSV: peak RSS growth of a fresh process")
    ours_up = up.get("ours", {})
    if "delta_mb" in ours_up:
        rep.row("ours: upload_file (streamed multipart)",
                f"{ours_up['delta_mb']:.1f} MiB in {ours_up['seconds']:.1f} s", "goal < 50 MiB",
                verdict(ours_up["delta_mb"] < 50))
    else:
        rep.row("ours: upload_file", f"failed: {ours_up.get('error')}")
    sdk_up = up.get("sdk")
    if sdk_up and "delta_mb" in sdk_up:
        note = "" if str(sdk_up["id"]).startswith("file-") else f" ({sdk_up['id']})"
        rep.row("official SDK: File.upload (baseline)", f"{sdk_up['delta_mb']:.1f} MiB in {sdk_up['seconds']:.1f} s"
                + note)
        if "delta_mb" in ours_up and sdk_up["delta_mb"] > 0:
            rep.row("ours / SDK", f"{ours_up['delta_mb'] / sdk_up['delta_mb']:.2f}")
    elif sdk_up:
        rep.row("official SDK: File.upload (baseline)", f"failed: {sdk_up.get('error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
