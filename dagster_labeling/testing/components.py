"""Helpers for testing YAML components (ours or a user's) in a defs-folder sandbox.

``create_defs_folder_sandbox`` is Dagster's; these add what a component test does again and again: scaffold with a
few attributes changed, read the whole message of a load error (Dagster wraps the one that names the YAML line),
and materialize some assets of the loaded definitions with the others as their sources.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import yaml

YAML_NULL = object()
"""An attribute value for :func:`scaffold_component` that writes ``null`` (None removes the attribute)."""


def scaffold_component(sandbox: Any, component_cls: type, name: str, **attribute_changes: Any) -> Path:
    """Scaffold ``component_cls`` into ``sandbox`` as ``name``, then set ``attribute_changes`` in its defs.yaml
    (None removes the attribute, :data:`YAML_NULL` writes null). Returns the component's folder."""
    path: Path = sandbox.scaffold_component(component_cls=component_cls, defs_path=name)
    if attribute_changes:
        body = yaml.safe_load((path / "defs.yaml").read_text())
        for key, value in attribute_changes.items():
            if value is None:
                body["attributes"].pop(key, None)
            else:
                body["attributes"][key] = None if value is YAML_NULL else value
        (path / "defs.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def error_chain(err: BaseException) -> str:
    """The messages of an exception and of its causes, outermost first."""
    parts = []
    current: BaseException | None = err
    while current is not None:
        parts.append(str(current))
        current = current.__cause__
    return "\n".join(parts)


def component_load_error(sandbox: Any, path: Path) -> str:
    """The whole message of the error loading the component at ``path``; AssertionError if it loads."""
    try:
        with sandbox.load_component_and_build_defs(defs_path=path):
            pass
    except Exception as err:
        return error_chain(err)
    raise AssertionError(f"the component at {path} loaded without error")


def materialize_selected(defs: dg.Definitions, *names: str, partition: str | None = None,
                         instance: dg.DagsterInstance | None = None, run_config: dict[str, Any] | None = None,
                         tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """Materialize the assets ``names`` of ``defs`` and their checks (their upstreams are read as sources) with
    its resources."""
    assets = [a for a in (defs.assets or []) if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize([*assets, *(defs.asset_checks or [])], selection=list(names), resources=defs.resources,
                          partition_key=partition, instance=instance or dg.DagsterInstance.ephemeral(),
                          run_config=run_config, tags=tags)


def collected_by_sensors(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The assets a sensor of ``defs`` materializes, and what runs after them: what a user does not launch. A
    sensor's own job that re-runs an asset the user launched (to reattach and collect) collects only what follows
    it."""
    graph = defs.resolve_asset_graph()
    collected: set[dg.AssetKey] = set()
    for sensor in defs.sensors or []:
        for target in defs.resolve_sensor_def(sensor.name).targets:
            targeted = set(defs.resolve_job_def(target.job_name).asset_layer.executable_asset_keys)
            downstream = dg.AssetSelection.assets(*targeted).downstream().resolve(graph)
            collected |= downstream if target.job_name.startswith("__anonymous") else downstream - targeted
    return collected
