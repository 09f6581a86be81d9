"""Check the example in the Dagster UI: every job the UI offers and every sensor turned on gives green runs.

    python3 dev.py ui-check                  # or: .venv/bin/python -m example_repo.ui_check [--timeout 900]

1. starts ``dagster-labeling emulate`` on a free 127.0.0.1 port (time-scaled so labeling finishes fast);
2. starts ``dagster dev`` (webserver + daemon) on another free 127.0.0.1 port with a temporary DAGSTER_HOME
   (telemetry off, the "Join the community" modal already seen), pointed at ``example_repo.definitions`` with
   the emulator's URLs and keys in the environment, as the demo does;
3. through the GraphQL API lists every job of the repository and launches each as the UI does: the asset job
   as "Materialize all" for one day (a run of every asset and check, with the day's tags and config), once per
   day the demo uses, one after the other; every other job the UI lists from its launchpad, a partitioned one
   for each of those days (the hidden ``__anonymous_asset_job_*`` of a sensor target is left to its sensor);
4. starts every sensor, and waits (bounded by ``--timeout``) until every launched run and every run the
   sensors request has finished and every sensor has ticked since;
5. prints a table (job/sensor, run id, status) with the error of each failed run, takes headless-chromium
   screenshots (asset graph, catalog, runs, automation, the first failed run) into the folder it prints, stops
   everything it started and exits 1 unless every run ended SUCCESS and no sensor tick failed.

Everything listens on 127.0.0.1 only. Needs the ``demo`` extra (dagster-webserver) and, for the screenshots,
Debian's ``chromium`` (``apt-get install -y chromium``; without it the screenshots are skipped).
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from example_repo.demo import DAYS  # the days the demo materializes

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIME_SCALE = 0.2  # Scale tasks in 0.4 s, Argilla annotations in 1 s, LLM Engine epochs in 0.4 s
ASSET_JOB = "__ASSET_JOB"
HIDDEN_JOBS = (ASSET_JOB, "__anonymous_asset_job")  # the UI lists neither (isHiddenAssetGroupJob)
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
SENSOR_SETTLE_MAX_INTERVAL = 120  # sensors ticking at most this far apart must tick once more after the last run


def log(message: str) -> None:
    print(f"[ui-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_signals() -> None:
    # A background job of a non-interactive shell inherits SIGINT=ignored, and `dagster dev` copies SIGINT's
    # disposition onto SIGTERM: reset both so the processes we start can be stopped gracefully.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class Started:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


class Processes:
    """Processes started here, each in its own process group, stopped by PID at the end."""

    def __init__(self) -> None:
        self.started: list[Started] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> Started:
        with log_path.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_default_signals)
        started = Started(name, proc, log_path)
        self.started.append(started)
        log(f"started {name} (pid {proc.pid}), log {log_path}")
        return started

    def stop_all(self) -> None:
        for item in reversed(self.started):
            stop_group(item)
        self.started.clear()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(item: Started, grace: float = 30.0) -> None:
    """SIGINT to the leader (graceful: `dagster dev` stops its webserver, daemon and code server), then
    SIGTERM and SIGKILL to the process group for whatever is left (run workers included)."""
    proc, pgid = item.proc, item.proc.pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{item.name} ignored SIGINT for {grace:.0f} s: SIGTERM to its group")
            os.killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                proc.wait(10)
    deadline = time.monotonic() + 10
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(pgid):
        log(f"{item.name}: processes left in group {pgid}, SIGKILL")
        os.killpg(pgid, signal.SIGKILL)
    log(f"stopped {item.name} (pid {pgid}, exit {proc.returncode})")


class GraphQL:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(f"{self.base_url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return dict(payload["data"])


REPOSITORY = """
{ repositoriesOrError { __typename
    ... on RepositoryConnection { nodes { name location { name }
        jobs { name isAssetJob partitionKeysOrError(limit: 1) { ... on PartitionKeys { partitionKeys } } }
        sensors { name minIntervalSeconds sensorState { status } }
        assetNodes { assetKey { path } isPartitioned jobNames isMaterializable
          assetChecksOrError { ... on AssetChecks { checks { name } } } } } }
    ... on PythonError { message } } }
"""
LOCATION_ERRORS = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
    __typename ... on PythonError { message } } } } } }
"""
LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on Error { message } } }
"""
START_SENSOR = """
mutation Start($sensorSelector: SensorSelector!) {
  startSensor(sensorSelector: $sensorSelector) { __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
    ... on Error { message } } }
"""
PARTITION = """
query Partition($selector: PipelineSelector!, $partitionName: String!, $assetKeys: [AssetKeyInput!]) {
  pipelineOrError(params: $selector) { __typename ... on Pipeline {
    partition(partitionName: $partitionName, selectedAssetKeys: $assetKeys) {
      runConfigOrError { ... on PartitionRunConfig { yaml } ... on PythonError { message } }
      tagsOrError { ... on PartitionTags { results { key value } } ... on PythonError { message } } } } } }
"""
RUNS = """
{ runsOrError { ... on Runs { results { runId jobName status creationTime endTime tags { key value } } } } }
"""
SENSOR_TICKS = """
query Ticks($sensorSelector: SensorSelector!) {
  sensorOrError(sensorSelector: $sensorSelector) { ... on Sensor { sensorState {
    ticks(limit: 50) { status timestamp endTimestamp runIds skipReason error { message } } } } } }
"""
RUN_FAILURE = """
query Failure($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status eventConnection(limit: 5000) { events { __typename
    ... on ExecutionStepFailureEvent { stepKey message error { className message cause { className message } } }
    ... on RunFailureEvent { message error { className message } }
    ... on EngineEvent { message error { className message } } } } } } }
"""


@dataclass
class Launched:
    what: str
    run_id: str | None
    error: str | None = None


@dataclass
class Check:
    base_url: str
    location: str = ""
    repository: str = ""
    launched: list[Launched] = field(default_factory=list)
    sensors: dict[str, int] = field(default_factory=dict)  # name -> minimum interval (s)

    def __post_init__(self) -> None:
        self.gql = GraphQL(self.base_url)

    # -- setup -----------------------------------------------------------------------------------------
    def wait_for_server(self, dev: Started, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dev.proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({dev.proc.returncode}): see {dev.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/server_info", timeout=5) as response:
                    info = json.loads(response.read())
                log(f"webserver up: {info}")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1.0)
        raise RuntimeError(f"/server_info did not answer within {timeout:.0f} s: see {dev.log_path}")

    def load_repository(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            data = self.gql(REPOSITORY)["repositoriesOrError"]
            nodes = data.get("nodes") or []
            if nodes:
                repo = dict(nodes[0])
                self.location, self.repository = repo["location"]["name"], repo["name"]
                return repo
            if time.monotonic() > deadline:
                errors = self.gql(LOCATION_ERRORS)
                raise RuntimeError(f"the code location did not load: {json.dumps(errors)[:2000]}")
            time.sleep(1.0)

    # -- launching -------------------------------------------------------------------------------------
    def launch(self, what: str, job: str, partition: str | None = None, assets: list[list[str]] | None = None,
               checks: list[tuple[list[str], str]] | None = None) -> Launched:
        """Launch ``job`` as the UI does (LaunchPipelineExecution): for a partition, with the tags and run config
        the UI fetches for it (``Job.partition``), as "Materialize" for one partition and the launchpad do."""
        selector: dict[str, Any] = {"repositoryLocationName": self.location, "repositoryName": self.repository,
                                    "pipelineName": job}
        tags: list[dict[str, str]] = []
        run_config = "{}"
        if partition is not None:
            keys = [{"path": path} for path in assets] if assets is not None else None
            data = self.gql(PARTITION, selector=selector, partitionName=partition, assetKeys=keys)["pipelineOrError"]
            config, found = data["partition"]["runConfigOrError"], data["partition"]["tagsOrError"]
            if "results" not in found or "yaml" not in config:
                error = f"partition {partition}: {found.get('message') or config.get('message')}"
                self.launched.append(Launched(what, None, error))
                log(f"could not launch {what}: {error}")
                return self.launched[-1]
            tags, run_config = [{"key": t["key"], "value": t["value"]} for t in found["results"]], config["yaml"]
        if assets is not None:
            selector["assetSelection"] = [{"path": path} for path in assets]
            selector["assetCheckSelection"] = [{"assetKey": {"path": path}, "name": name}
                                               for path, name in checks or []]
        params = {"selector": selector, "runConfigData": run_config or "{}", "mode": "default",
                  "executionMetadata": {"tags": tags}}
        result = self.gql(LAUNCH, executionParams=params)["launchPipelineExecution"]
        if result["__typename"] == "LaunchRunSuccess":
            launched = Launched(what, result["run"]["runId"])
            log(f"launched {what}: run {launched.run_id}")
        else:
            detail = result.get("message") or json.dumps(result.get("errors"))
            launched = Launched(what, None, f"{result['__typename']}: {detail}")
            log(f"could not launch {what}: {launched.error}")
        self.launched.append(launched)
        return launched

    def start_sensors(self, repo: dict[str, Any]) -> None:
        for sensor in repo["sensors"]:
            name = sensor["name"]
            result = self.gql(START_SENSOR, sensorSelector=self._sensor(name))["startSensor"]
            status = (result.get("sensorState") or {}).get("status") or f"{result['__typename']}: {result}"
            self.sensors[name] = int(sensor["minIntervalSeconds"])
            log(f"sensor {name} (every {sensor['minIntervalSeconds']} s): {status}")

    def _sensor(self, name: str) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository, "sensorName": name}

    # -- waiting ---------------------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        return list(self.gql(RUNS)["runsOrError"]["results"])

    def wait_runs(self, run_ids: list[str], deadline: float) -> bool:
        """Wait until the given runs are finished; False at the deadline."""
        last = ""
        while time.monotonic() < deadline:
            status = {r["runId"]: r["status"] for r in self.runs()}
            pending = [i for i in run_ids if status.get(i) not in TERMINAL]
            summary = ", ".join(f"{i[:8]} {status.get(i)}" for i in run_ids)
            if summary != last:
                log(f"runs: {summary}")
                last = summary
            if not pending:
                return True
            time.sleep(3.0)
        return False

    def sensor_ticks(self, name: str) -> list[dict[str, Any]]:
        data = self.gql(SENSOR_TICKS, sensorSelector=self._sensor(name))["sensorOrError"]
        return list(data["sensorState"]["ticks"]) if data else []

    def wait_settled(self, deadline: float) -> bool:
        """Wait until no run is queued or running and each frequent sensor has ticked after the last run
        ended (so the runs the sensors request are all in); False at the deadline."""
        last = ""
        while time.monotonic() < deadline:
            runs = self.runs()
            active = [r for r in runs if r["status"] not in TERMINAL]
            quiet_since = max([r["endTime"] or 0.0 for r in runs] + [0.0])
            waiting = []
            for name, interval in self.sensors.items():
                ticks = self.sensor_ticks(name)
                done = [t for t in ticks if t["status"] != "STARTED"]
                if not done or (interval <= SENSOR_SETTLE_MAX_INTERVAL and done[0]["timestamp"] <= quiet_since):
                    waiting.append(name)
            summary = (f"{len(runs)} runs, {len(active)} active "
                       f"({', '.join(sorted({r['jobName'] for r in active}))}); waiting for a tick of "
                       f"{', '.join(waiting) or 'none'}")
            if summary != last:
                log(summary)
                last = summary
            if not active and not waiting:
                return True
            time.sleep(5.0)
        return False

    # -- reporting -------------------------------------------------------------------------------------
    def failure(self, run_id: str) -> str:
        run = self.gql(RUN_FAILURE, runId=run_id)["runOrError"]
        lines = []
        for event in run["eventConnection"]["events"]:
            kind, error = event["__typename"], event.get("error")
            if kind == "ExecutionStepFailureEvent":
                root = error or {}
                while root.get("cause"):
                    root = root["cause"]
                message = str(root.get("message", "")).strip()
                name = str(root.get("className") or "")
                text = (message if message.startswith(name) else f"{name}: {message}") if root else event["message"]
                lines.append(f"step {event['stepKey']}: {text.strip()}")
            elif kind == "RunFailureEvent" and not lines:
                lines.append(event["message"] + (f" ({error['message'].strip()})" if error else ""))
            elif kind == "EngineEvent" and error and not lines:
                lines.append(f"{event['message']}: {error['className']}: {error['message'].strip()}")
        return "\n".join(lines) or f"no failure event (status {run['status']})"

    def report(self) -> tuple[list[tuple[str, str, str, str]], list[str]]:
        """Rows (what, run id, status, error) for every run and launch, and the failed sensor ticks."""
        runs = {r["runId"]: r for r in self.runs()}
        rows: list[tuple[str, str, str, str]] = []
        seen: set[str] = set()
        for item in self.launched:
            if item.run_id is None:
                rows.append((item.what, "-", "NOT LAUNCHED", item.error or ""))
                continue
            seen.add(item.run_id)
            status = runs[item.run_id]["status"] if item.run_id in runs else "MISSING"
            rows.append((item.what, item.run_id, status, ""))
        for run in sorted(runs.values(), key=lambda r: r["creationTime"]):
            if run["runId"] in seen:
                continue
            tags = {t["key"]: t["value"] for t in run["tags"]}
            origin = f"sensor {tags['dagster/sensor_name']}" if "dagster/sensor_name" in tags else "other"
            partition = f" [{tags['dagster/partition']}]" if "dagster/partition" in tags else ""
            rows.append((f"{origin} -> {run['jobName']}{partition}", run["runId"], run["status"], ""))
        rows = [(w, i, s, self.failure(i) if s not in {"SUCCESS", "NOT LAUNCHED", "MISSING"} and s in TERMINAL
                 else e) for w, i, s, e in rows]
        tick_errors = []
        for name in self.sensors:
            for tick in self.sensor_ticks(name):
                if tick["status"] == "FAILURE":
                    message = (tick["error"] or {}).get("message", "").strip()
                    tick_errors.append(f"sensor {name}: tick failed: {message}")
                    break
        return rows, tick_errors


def screenshots(base_url: str, out: Path, failed_run: str | None) -> list[Path]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        log("screenshots skipped: no `chromium` on PATH (Debian: apt-get install -y chromium)")
        return []
    pages = {"asset-graph": "/asset-groups", "catalog": "/assets", "runs": "/runs", "automation": "/automation"}
    if failed_run:
        pages["failed-run"] = f"/runs/{failed_run}"
    taken = []
    for name, path in pages.items():
        target = out / f"{name}.png"
        with tempfile.TemporaryDirectory(prefix="ui-check-chromium-") as profile:
            cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                   "--window-size=1600,1000", f"--screenshot={target}", f"{base_url}{path}"]
            try:
                subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                               start_new_session=True, check=False)
            except subprocess.TimeoutExpired:
                log(f"screenshot of {path} timed out")
        if target.exists():
            taken.append(target)
    return taken


def environment(home: Path, emulator_url: str, key: str) -> dict[str, str]:
    """The environment `dagster dev` gets: the emulator's URLs and key, as example_repo/demo.py sets them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCALE_", "REFUEL_", "ARGILLA_", "ADAPTIVE_",
                                                                    "LLM_ENGINE_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "SCALE_API_KEY": key, "REFUEL_API_KEY": key, "ARGILLA_API_KEY": key, "ADAPTIVE_API_KEY": key,
        "SCALE_BASE_URL": f"{emulator_url}/scale/v1",
        "LLM_ENGINE_BASE_URL": f"{emulator_url}/llm-engine/",
        "REFUEL_BASE_URL": f"{emulator_url}/refuel",
        "ARGILLA_API_URL": f"{emulator_url}/argilla",
        "ADAPTIVE_BASE_URL": f"{emulator_url}/adaptive",
        "DAGSTER_LABELING_INBOX": str(home / "inbox.db"),
        "PYTHONWARNINGS": env.get("PYTHONWARNINGS", "ignore::DeprecationWarning"),
        "LLM_ENGINE_DISABLE_VERSION_CHECK": "1",
    })
    return env


def start_emulator(procs: Processes, work: Path, key: str) -> str:
    env = {**os.environ, "DAGSTER_LABELING_EMULATOR_KEY": key}
    emulator = procs.start("emulator", [str(BIN / "dagster-labeling"), "emulate", "--host", "127.0.0.1",
                                        "--port", "0", "--time-scale", str(TIME_SCALE)], env, work / "emulator.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"Emulator listening on (http://127\.0\.0\.1:\d+)", emulator.log_path.read_text())
        if match:
            return match.group(1)
        if emulator.proc.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"the emulator did not start: see {emulator.log_path}")


def start_dagster(procs: Processes, work: Path, emulator_url: str, key: str) -> tuple[Started, str]:
    home = work / "dagster_home"
    (home / ".nux").mkdir(parents=True)
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # the "Join the Dagster community" modal, seen
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    cmd = [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", "example_repo.definitions",
           "-d", str(ROOT)]
    dev = procs.start("dagster dev", cmd, environment(home, emulator_url, key), work / "dagster-dev.log")
    return dev, f"http://127.0.0.1:{port}"


def run_check(work: Path, timeout: float) -> int:
    started_at = time.monotonic()
    deadline = started_at + timeout
    procs = Processes()
    key = secrets.token_hex(8)  # the emulator's key for this check only
    try:
        emulator_url = start_emulator(procs, work, key)
        log(f"emulator at {emulator_url}")
        dev, base_url = start_dagster(procs, work, emulator_url, key)
        check = Check(base_url)
        check.wait_for_server(dev, timeout=180)
        repo = check.load_repository(timeout=120)
        log(f"repository {check.repository}@{check.location}: jobs {[j['name'] for j in repo['jobs']]}, "
            f"sensors {[s['name'] for s in repo['sensors']]}")

        # "Materialize all" for one day, for each of the demo's days, one run after the other.
        nodes = [n for n in repo["assetNodes"] if n["isMaterializable"]]
        asset_job_nodes = [n for n in nodes if ASSET_JOB in n["jobNames"]]
        assets = [n["assetKey"]["path"] for n in asset_job_nodes]
        checks = [(n["assetKey"]["path"], c["name"]) for n in asset_job_nodes
                  for c in (n["assetChecksOrError"].get("checks") or [])]
        jobs = {j["name"]: j for j in repo["jobs"]}
        if ASSET_JOB in jobs:
            for day in DAYS:
                launched = check.launch(f"Materialize all [{day}]", ASSET_JOB, day, assets=assets, checks=checks)
                if launched.run_id and not check.wait_runs([launched.run_id], deadline):
                    log("timed out waiting for the asset job")
                    break
        # Every other job the UI lists (not the hidden asset jobs), from its launchpad: a partitioned one for
        # each demo day.
        for name, job in jobs.items():
            if name.startswith(HIDDEN_JOBS) or time.monotonic() > deadline:
                continue
            if job["partitionKeysOrError"].get("partitionKeys"):
                for day in DAYS:
                    check.launch(f"{name} [{day}]", name, day)
            else:
                check.launch(name, name)
        check.start_sensors(repo)
        settled = check.wait_settled(deadline)
        if not settled:
            log(f"not settled within {timeout:.0f} s")

        rows, tick_errors = check.report()
        width = max(len(r[0]) for r in rows) if rows else 10
        print(f"\n{'job / sensor':<{width}}  {'run id':<36}  status")
        for what, run_id, status, _ in rows:
            print(f"{what:<{width}}  {run_id:<36}  {status}")
        failed = [r for r in rows if r[2] != "SUCCESS"]
        for what, run_id, status, error in failed:
            print(f"\n{status}: {what} (run {run_id})\n  " + (error or "(no error recorded)").replace("\n", "\n  "))
        for message in tick_errors:
            print(f"\n{message}")
        shots = screenshots(base_url, work, next((r[1] for r in failed if r[2] == "FAILURE"), None))
        if shots:
            print(f"\nScreenshots in {work}: {', '.join(p.name for p in shots)}")
        ok = bool(rows) and not failed and not tick_errors and settled
        print(f"\nUI check {'passed' if ok else 'FAILED'}: {len(rows) - len(failed)} of {len(rows)} runs SUCCESS, "
              f"{len(tick_errors)} sensor(s) with failed ticks, {time.monotonic() - started_at:.0f} s "
              f"(logs and screenshots in {work})")
        return 0 if ok else 1
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=900.0, help="bound on the whole check, seconds")
    parser.add_argument("--out", type=Path, default=None, help="folder for logs and screenshots (default: a new "
                                                               "temporary one)")
    args = parser.parse_args(argv)
    work = args.out.resolve() if args.out else Path(tempfile.mkdtemp(prefix="dagster-labeling-ui-check-"))
    work.mkdir(parents=True, exist_ok=True)
    log(f"logs, DAGSTER_HOME and screenshots in {work}")
    return run_check(work, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
