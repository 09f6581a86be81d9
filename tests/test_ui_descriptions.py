"""What the Dagster UI shows as descriptions is prose: resources, components, ops and the example's assets carry
no doctest or code block (the UI renders them as one paragraph), and a resource's repr never shows its key."""

import importlib
import inspect

import dagster as dg
import pytest

PLATFORMS = ("scale", "refuel", "llm_engine", "argilla", "adaptive")
CODE_MARKERS = (">>>", "```", "::\n")


def public_objects(platform: str) -> list[tuple[str, object]]:
    module = importlib.import_module(f"dagster_labeling.{platform}")
    return [(name, getattr(module, name)) for name in module.__all__]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_resource_component_and_op_descriptions_are_prose(platform: str) -> None:
    checked = 0
    for name, obj in public_objects(platform):
        text = None
        if inspect.isclass(obj) and issubclass(obj, (dg.ConfigurableResource, dg.Component)):
            text = inspect.getdoc(obj)
        elif isinstance(obj, dg.OpDefinition):
            text = obj.description
        if text is None:
            continue
        checked += 1
        assert text.strip(), f"{platform}.{name} has no description"
        assert not any(marker in text for marker in CODE_MARKERS), f"{platform}.{name}: {text}"
    assert checked >= 2, f"{platform}: no resource, component or op found"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_resource_repr_hides_the_key(platform: str) -> None:
    module = importlib.import_module(f"dagster_labeling.{platform}")
    [resource_cls] = [obj for _, obj in public_objects(platform)
                      if inspect.isclass(obj) and issubclass(obj, dg.ConfigurableResource)]
    required = {name: "x" for name, info in resource_cls.model_fields.items() if info.is_required()}
    resource = resource_cls(**{**required, "api_key": "sk-secret-123"})
    assert "sk-secret-123" not in repr(resource) and "sk-secret-123" not in str(resource)
    assert module is not None


def test_example_descriptions_are_prose(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCALE_API_KEY", "REFUEL_API_KEY", "ARGILLA_API_KEY", "ADAPTIVE_API_KEY"):
        monkeypatch.setenv(name, "emulator-key")
    monkeypatch.setenv("ADAPTIVE_BASE_URL", "http://127.0.0.1:9/adaptive")
    example = importlib.import_module("example_repo.definitions")
    for spec in example.defs.resolve_all_asset_specs():
        assert spec.description, f"{spec.key.to_user_string()} has no description"
        assert not any(marker in spec.description for marker in CODE_MARKERS), spec.key
