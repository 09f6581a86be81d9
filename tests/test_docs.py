"""Every ```python snippet in README.md and docs/**/*.md runs, top to bottom, one namespace per file; every
component ```yaml block in docs/components/*.md loads through Dagster's component loader."""

import re
from pathlib import Path

import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from dagster_labeling.testing import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)
COMPONENT_YAML = re.compile(r"```yaml\n(type: dagster_labeling\..*?)```", re.DOTALL)
COMPONENT_PAGES = sorted((ROOT / "docs" / "components").glob("*.md"))


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", DOCS, ids=[doc_id(p) for p in DOCS])
def test_doc_snippets_run(path: Path) -> None:
    snippets = SNIPPET.findall(path.read_text())
    shows_yaml = bool(COMPONENT_YAML.search(path.read_text()))
    assert snippets or shows_yaml or path.name == "README.md", f"{doc_id(path)} has no python snippet"
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for index, code in enumerate(snippets):
        if "pytest_plugins" in code:
            continue  # a conftest.py line, shown for users; not runnable outside a conftest
        try:
            exec(compile(code, f"{path.name}[{index}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{path.name} snippet {index} failed: {exc!r}\n{code}") from exc


def emulator_environment(server: EmulatorServer) -> dict[str, str]:
    """The variables the component pages' YAML reads, pointing at the emulator."""
    refuel = server.platform("refuel")
    return {
        "SCALE_API_KEY": server.platform("scale").api_key, "SCALE_BASE_URL": server.platform_url("scale") + "/v1",
        "REFUEL_API_KEY": refuel.api_key, "REFUEL_BASE_URL": server.platform_url("refuel"),
        "REFUEL_PROJECT": "docs-project",
        "LLM_ENGINE_API_KEY": server.platform("llm-engine").api_key,
        "LLM_ENGINE_BASE_URL": server.platform_url("llm-engine") + "/",
        "ARGILLA_API_KEY": server.platform("argilla").api_key, "ARGILLA_API_URL": server.platform_url("argilla"),
        "ADAPTIVE_API_KEY": server.platform("adaptive").api_key,
        "ADAPTIVE_BASE_URL": server.platform_url("adaptive"),
    }


def component_blocks() -> list[tuple[str, str]]:
    return [(f"{doc_id(page)}[{i}]", block) for page in COMPONENT_PAGES
            for i, block in enumerate(COMPONENT_YAML.findall(page.read_text()))]


@pytest.mark.parametrize(("where", "block"), component_blocks(), ids=[w for w, _ in component_blocks()])
def test_component_yaml_loads(where: str, block: str, emulator_server: EmulatorServer,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The block is complete: scaffolded beside its sample files, it loads and builds its definitions."""
    for name, value in emulator_environment(emulator_server).items():
        monkeypatch.setenv(name, value)
    type_name = yaml.safe_load(block)["type"]
    module, _, attr = type_name.rpartition(".")
    component_cls = getattr(__import__(module, fromlist=[attr]), attr)
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=component_cls, defs_path="from_docs")
        (path / "defs.yaml").write_text(block)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, component_cls)
            assert list(defs.assets or []), f"{where} builds no asset"


@pytest.mark.parametrize("path", DOCS, ids=[doc_id(p) for p in DOCS])
def test_docs_import_only_public_modules(path: Path) -> None:
    """What the docs teach is public: no snippet reaches into ``_core``, ``_dagster`` or another private module."""
    private = [line.strip() for code in SNIPPET.findall(path.read_text()) for line in code.splitlines()
               if re.search(r"\bdagster_labeling(\.\w+)*\._\w+", line) and "import" in line]
    assert not private, f"{doc_id(path)} imports private modules: {private}"


def test_public_names_the_docs_need_are_importable() -> None:
    import dagster_labeling

    for name in ("RetryConfig", "TimeoutConfig", "WaitConfig", "WaitOptions", "RetryPolicy", "Timeouts",
                 "JobHandle", "NO_RETRY"):
        assert getattr(dagster_labeling, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        dagster_labeling.Nope  # noqa: B018


def test_readme_example_runs_as_written_against_the_emulator(emulator_server: EmulatorServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's 30-second example, verbatim, with the two variables the README says to set."""
    import dagster as dg

    monkeypatch.setenv("SCALE_API_KEY", emulator_server.platform("scale").api_key)
    monkeypatch.setenv("SCALE_BASE_URL", emulator_server.platform_url("scale") + "/v1")
    scale = emulator_server.platform("scale")
    scale.task_duration_seconds, scale.task_duration_jitter = 0.0, 0.0
    [code] = [c for c in SNIPPET.findall((ROOT / "README.md").read_text()) if "build_scale_batch_asset" in c]
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    result = dg.materialize(list(defs.assets or []), resources=defs.resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    labels = result.output_for_node("reviews_labels")
    assert sorted(labels["row_key"]) == ["r1", "r2"] and set(labels["status"]) == {"completed"}
