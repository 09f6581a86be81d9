"""A new user's path with `dg`: an empty dg project, `dg list components` shows every platform's components,
`dg scaffold defs` writes each one, `dg check defs` loads them, `dg launch` materializes one against the
emulator, and every scaffolded component materializes the assets a user launches (its sensors do the rest)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from dagster_labeling.testing import EmulatorServer
from dagster_labeling.testing.components import collected_by_sensors

PLATFORMS = {"scale", "refuel", "llm_engine", "argilla", "adaptive"}
DG = str(Path(sys.executable).with_name("dg"))


def write_empty_project(root: Path, name: str = "labeling_project") -> Path:
    """What `create-dagster project` writes, minus its network check: pyproject with [tool.dg], the package and
    its defs folder loaded by `load_from_defs_folder`."""
    package = root / "src" / name
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(textwrap.dedent("""
        from pathlib import Path

        from dagster import definitions, load_from_defs_folder


        @definitions
        def defs():
            return load_from_defs_folder(path_within_project=Path(__file__).parent)
        """))
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""
        [project]
        name = "{name}"
        version = "0.1.0"
        requires-python = ">=3.10"
        dependencies = ["dagster-labeling"]

        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "{name}"
        """))
    return package


def environment(server: EmulatorServer) -> dict[str, str]:
    return {
        "SCALE_API_KEY": server.platform("scale").api_key, "SCALE_BASE_URL": server.platform_url("scale") + "/v1",
        "REFUEL_API_KEY": server.platform("refuel").api_key, "REFUEL_BASE_URL": server.platform_url("refuel"),
        "REFUEL_PROJECT": "dg-project",
        "LLM_ENGINE_API_KEY": server.platform("llm-engine").api_key,
        "LLM_ENGINE_BASE_URL": server.platform_url("llm-engine") + "/",
        "ARGILLA_API_KEY": server.platform("argilla").api_key, "ARGILLA_API_URL": server.platform_url("argilla"),
        "ADAPTIVE_API_KEY": server.platform("adaptive").api_key, "ADAPTIVE_BASE_URL": server.platform_url("adaptive"),
    }


def run_dg(root: Path, *args: str, stdout_only: bool = False) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(root / "src"), "DAGSTER_HOME": str(root / ".dagster_home"), "NO_COLOR": "1"}
    done = subprocess.run([DG, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"dg {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout if stdout_only else done.stdout + done.stderr


@pytest.fixture(scope="module")
def emulator() -> EmulatorServer:
    server = EmulatorServer(port=0).start()
    yield server
    server.stop()


def test_scaffold_every_component_into_an_empty_project(tmp_path: Path, emulator: EmulatorServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    package = write_empty_project(tmp_path)
    (tmp_path / ".dagster_home").mkdir()
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in environment(emulator).items()))

    listed = json.loads(run_dg(tmp_path, "list", "components", "--json", stdout_only=True))
    ours = sorted(item["key"] for item in listed["items"] if item["key"].startswith("dagster_labeling."))
    assert {key.split(".")[1] for key in ours} == PLATFORMS, ours

    for key in ours:
        run_dg(tmp_path, "scaffold", "defs", key, key.rsplit(".", 1)[1].lower())
    assert sorted(p.name for p in (package / "defs").iterdir() if p.is_dir()) == sorted(
        k.rsplit(".", 1)[1].lower() for k in ours)
    assert "All definitions loaded successfully" in run_dg(tmp_path, "check", "defs")

    # the CLI path end to end: dg launch materializes the Scale batch against the emulator
    launched = run_dg(tmp_path, "launch", "--assets", "reviews_batch_rows,reviews_batch")
    assert "RUN_SUCCESS" in launched
    assert any(t["batch"] == "reviews_batch" for t in emulator.platform("scale").tasks.values())

    # every component, loaded by dg's loader, materializes what a user launches; its sensors collect the rest
    for name, value in environment(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    defs = dg.load_from_defs_folder(path_within_project=package)
    collected = collected_by_sensors(defs)
    assert collected  # the scaffolds hand off: their sensors collect the responses, reviews, labels
    graph = defs.resolve_asset_graph()
    launchable = [key for key in graph.materializable_asset_keys if key not in collected]
    assert launchable
    result = dg.materialize(list(defs.assets or []), selection=launchable, resources=defs.resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
