"""The official ``adaptive-sdk`` 0.14.2, unchanged, against the emulator's models, compute pools, recipes, graders
and admin surface (asserting the state it leaves, not only that the SDK parsed the answers), the SDK's own
breakages where ours works (``add_external`` for Azure and Anthropic), and wire parity: our client's requests equal
the SDK's for the same calls, request by request (JSON bodies and multipart parts)."""

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from adaptive_sdk import Adaptive
from adaptive_sdk.error_handling import AdaptiveEntityNotFoundError
from adaptive_sdk.graphql_client.exceptions import GraphQLClientGraphQLMultiError

from dagster_labeling.adaptive import AdaptiveClient, AdaptiveNotFound
from dagster_labeling.testing.adaptive import AdaptiveEmulator
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

from .test_adaptive_client import multipart_parts, sent

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
RECIPE = "from adaptive_harmony import recipe_main\n\n@recipe_main\nasync def main(config, ctx):\n    return None\n"
GRADE = "async def grade(thread):\n    return 1.0\n"
URL = "https://rewards.example.com"


@pytest.fixture
def sdk(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[Adaptive]:
    client = Adaptive(base_url=adaptive_emulator.base_url, api_key=adaptive_emulator.api_key)
    yield client
    client.close()


@pytest.fixture
def ours(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        yield client


def emu(handle: AdaptiveEmulatorHandle) -> AdaptiveEmulator:
    state: AdaptiveEmulator = handle.state
    return state


# -- the SDK against the emulator ----------------------------------------------------------------------------
def test_sdk_models(sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    job = sdk.models.add_hf_model("Qwen/Qwen2.5-0.5B-Instruct", "Qwen 0.5B", "qwen-05b", "hf_tok",
                                  compute_pool="default")
    assert job.status.value == "PENDING" and job.recipe is not None and job.recipe.key == "import-hf-model"
    adaptive_emulator.complete_all()
    imported = sdk.models.get("qwen-05b")
    assert imported is not None and imported.name == "Qwen 0.5B" and imported.is_adapter is False
    gpt = sdk.models.add_external("GPT 4o", "gpt-4o", "sk-x", "open_ai", extra_params={"temperature": 0})
    gemini = sdk.models.add_external("Gemini", "gemini-2.0-flash", "g-key", "google")
    assert (gpt.key, gpt.provider_name, gemini.provider_name) == ("gpt-4o", "OPEN_AI", "GOOGLE")
    with pytest.raises(KeyError):  # the SDK's own bug: no azure entry (nor anthropic) in its provider table
        sdk.models.add_external("Azure", "gpt-4o", "k", "azure", endpoint="https://acme.openai.azure.com")
    with pytest.raises(KeyError):
        sdk.models.add_external("Claude", "claude-3-5", "k", "anthropic")  # type: ignore[arg-type]
    config = sdk.models.update_compute_config(LLAMA, {"tp": 2, "kv_cache_len": 4096})  # type: ignore[arg-type]
    assert config.compute_config is not None and (config.compute_config.tp, config.compute_config.kv_cache_len) == (
        2, 4096)
    with pytest.raises(GraphQLClientGraphQLMultiError, match="external"):
        sdk.models.update_compute_config("gpt-4o", {"tp": 2})  # type: ignore[arg-type]
    adaptive_emulator.ensure_project("a", models=[QWEN])
    adaptive_emulator.ensure_project("b", models=[QWEN])
    with pytest.raises(GraphQLClientGraphQLMultiError, match="force"):
        sdk.models.terminate(QWEN)
    assert "terminated" in sdk.models.terminate(QWEN, force=True)
    assert emu(adaptive_emulator).models[QWEN]["online"] == "OFFLINE"


def test_sdk_compute_pools(sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p", models=[LLAMA])
    pools = {p.key: p for p in sdk.compute_pools.list()}
    assert [c.value for c in pools["default"].capabilities] == ["INFERENCE", "JOB"]
    group = pools["default"].harmony_groups[0]
    assert group.world_size == 8 and [m.key for m in group.online_models] == [LLAMA]
    assert sdk.compute_pools.resize_inference_partition("default", 4) is None
    allocations = sdk.compute_pools.list()[0].harmony_groups[0].gpu_allocations
    assert allocations is not None and allocations[0].num_gpus == 4 and allocations[0].ranks == [0, 1, 2, 3]
    with pytest.raises(GraphQLClientGraphQLMultiError, match="out of range"):
        sdk.compute_pools.resize_inference_partition("default", 12)


def test_sdk_recipes(sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle, tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("p")
    sdk.set_default_project("p")
    (tmp_path / "sft.py").write_text(RECIPE)
    recipe = sdk.recipes.upload(str(tmp_path / "sft.py"), labels={"team": "ml"}, description="SFT")
    assert (recipe.key, recipe.content, recipe.labels[0].value, recipe.description) == ("sft", RECIPE, "ml", "SFT")
    directory = tmp_path / "rl"
    directory.mkdir()
    (directory / "main.py").write_text(RECIPE)
    zipped = sdk.recipes.upload(str(directory))
    assert zipped.key == "rl" and zipped.content is None
    assert [r.key for r in sdk.recipes.list()] == ["sft", "rl"]
    got = sdk.recipes.get("sft")
    assert got is not None and got.id == recipe.id and sdk.recipes.get("nope") is None
    assert sdk.recipes.update("sft", name="SFT v2", labels=[("team", "rl")]).name == "SFT v2"
    (tmp_path / "sft.py").write_text(RECIPE + "# v2\n")
    assert (sdk.recipes.upsert(str(tmp_path / "sft.py")).content or "").endswith("# v2\n")
    with pytest.raises(GraphQLClientGraphQLMultiError, match="already exists"):
        sdk.recipes.upload(str(tmp_path / "sft.py"))
    assert sdk.recipes.delete("rl") is True
    assert [r["key"] for r in emu(adaptive_emulator).recipes.values()] == ["sft"]


def test_sdk_graders(sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p", models=[LLAMA])
    sdk.set_default_project("p")
    emu(adaptive_emulator).add_reachable_reward_server(URL, name="rewards", version="1.2")
    judge = sdk.graders.create.binary_judge(key="polite", criteria="Polite?", judge_model=LLAMA, examples=[
        {"input": [{"role": "user", "content": "Hi"}], "output": "Hello!", "passes": True}])
    assert judge.grader_type.value == "JUDGE" and judge.metric.kind.value == "BOOL"
    prebuilt = sdk.graders.create.prebuilt_judge(key="faithful", type="FAITHFULNESS", judge_model=LLAMA)
    remote = sdk.graders.create.external_endpoint(key="reward", url=URL)
    custom = sdk.graders.create.custom(key="human", description="reviewers")
    function = sdk.graders.create.function(key="length", fn=GRADE)
    assert [g.grader_config.typename__ for g in (prebuilt, remote, custom, function)] == [
        "PrebuiltConfigOutput", "RemoteConfigOutput", "CustomConfigOutput", "FunctionConfigOutput"]
    with pytest.raises(ValueError, match="signature"):
        sdk.graders.create.function(key="bad", fn="def grade(x):\n    return 1\n")
    assert [g.key for g in sdk.graders.list()] == ["polite", "faithful", "reward", "human", "length"]
    got = sdk.graders.get(grader_key="polite")
    assert got is not None and got.id == judge.id
    with pytest.raises(AdaptiveEntityNotFoundError):  # the schema's grader is non-null: a missing one is an error
        sdk.graders.get(grader_key="nope")
    assert sdk.graders.lock(grader_key="polite", locked=True).locked is True
    assert sdk.graders.delete(grader_key="polite") is False
    assert sdk.graders.delete(grader_key="human") is True
    online = sdk.graders.test_external_endpoint(URL)
    assert online.typename__ == "RemoteEnvTestOnline" and online.version == "1.2"
    offline = sdk.graders.test_external_endpoint("https://elsewhere.example.com")
    assert offline.typename__ == "RemoteEnvTestOffline" and "refused" in offline.error


def test_sdk_users_teams_roles_permissions(sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    me = sdk.users.me()
    assert me is not None and me.teams[0].role.key == "admin"
    assert "project:read" in sdk.permissions.list()
    role = sdk.roles.create("labeler", ["project:read"])
    assert (role.key, role.name, role.permissions) == ("labeler", "labeler", ["project:read"])
    assert {r.key for r in sdk.roles.list()} == {"admin", "member", "read-only", "labeler"}
    team = sdk.teams.create("labelers", name="Labelers")
    assert (team.key, team.name) == ("labelers", "Labelers") and len(sdk.teams.list()) == 2
    ada = sdk.users.create("ada@example.com", "Ada", [("labelers", "labeler")])
    assert ada.teams[0].team.key == "labelers"
    moved = sdk.users.add_to_team("ada@example.com", "default", "member")
    assert moved.role.key == "member" and {m.team.key for m in moved.user.teams} == {"labelers", "default"}
    assert [m.team.key for m in sdk.users.remove_from_team("ada@example.com", "labelers").teams] == ["default"]
    account = sdk.users.create_service_account("ci-bot", [("default", "member")])
    assert account.email == "ci-bot@system.adaptive.local" and account.api_key.startswith("sk-")
    assert {u.email for u in sdk.users.list()} == {me.email, "ada@example.com", "ci-bot@system.adaptive.local"}
    bot = Adaptive(base_url=adaptive_emulator.base_url, api_key=account.api_key)
    assert len(bot.teams.list()) == 2  # the service account's key authenticates
    bot.close()
    sdk.users.delete("ada@example.com")
    assert "ada@example.com" not in emu(adaptive_emulator).users
    with pytest.raises(GraphQLClientGraphQLMultiError, match="already exists"):
        sdk.teams.create("labelers")


# -- wire parity ---------------------------------------------------------------------------------------------
def _same(emu_handle: AdaptiveEmulatorHandle, theirs: Callable[[], Any], mine: Callable[[], Any],
          rename: dict[str, str] | None = None) -> None:
    expected, got = sent(emu_handle, theirs), sent(emu_handle, mine)
    text = json.dumps(got)
    for a, b in (rename or {}).items():
        text = text.replace(f'"{a}"', f'"{b}"')
    assert json.loads(text) == json.loads(json.dumps(expected)), (expected, got)


def test_wire_parity(ours: AdaptiveClient, sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    e = adaptive_emulator
    e.ensure_project("p", models=[LLAMA, QWEN], default=LLAMA)
    emu(e).add_reachable_reward_server(URL)
    sdk.set_default_project("p")
    example = [{"input": [{"role": "user", "content": "Hi"}], "output": "Hello", "passes": True, "reasoning": "ok"}]
    pairs: list[tuple[Callable[[], Any], Callable[[], Any], dict[str, str]]] = [
        (lambda: sdk.models.add_hf_model("Qwen/Qwen3-8B", "Qwen 3", "q3a", "hf_tok", compute_pool="default"),
         lambda: ours.add_hf_model("Qwen/Qwen3-8B", "Qwen 3", "q3b", "hf_tok", compute_pool="default"), {"q3b": "q3a"}),
        (lambda: sdk.models.add_external("gpt-a", "gpt-4o", "sk-x", "open_ai", extra_params={"t": 1}),
         lambda: ours.add_external("gpt-b", "gpt-4o", "sk-x", "open_ai", extra_params={"t": 1}), {"gpt-b": "gpt-a"}),
        (lambda: sdk.models.add_external("gem-a", "gemini", "g-key", "google"),
         lambda: ours.add_external("gem-b", "gemini", "g-key", "google"), {"gem-b": "gem-a"}),
        (lambda: sdk.models.update_compute_config(LLAMA, {"tp": 2}),  # type: ignore[arg-type]
         lambda: ours.update_model_compute_config(LLAMA, tp=2), {}),
        (lambda: sdk.models.update(QWEN, desired_online=True),
         lambda: ours.update_model("p", QWEN, desired_online=True), {}),
        (lambda: sdk.compute_pools.list(), lambda: ours.list_compute_pools(), {}),
        (lambda: sdk.compute_pools.resize_inference_partition("default", 3),
         lambda: ours.resize_inference_partition("default", 3), {}),
        (lambda: sdk.recipes.list(), lambda: ours.list_recipes("p"), {}),
        (lambda: sdk.recipes.get("nope"), lambda: pytest.raises(AdaptiveNotFound, ours.get_recipe, "p", "nope"), {}),
        (lambda: sdk.graders.create.binary_judge(key="j-a", criteria="Polite?", judge_model=LLAMA, examples=example),
         lambda: ours.create_judge_grader("p", "j-b", criteria="Polite?", judge_model=LLAMA, examples=example),
         {"j-b": "j-a"}),
        (lambda: sdk.graders.create.prebuilt_judge(key="f-a", type="FAITHFULNESS", judge_model=LLAMA),
         lambda: ours.create_prebuilt_grader("p", "f-b", judge_model=LLAMA), {"f-b": "f-a"}),
        (lambda: sdk.graders.create.external_endpoint(key="r-a", url=URL),
         lambda: ours.create_endpoint_grader("p", "r-b", url=URL), {"r-b": "r-a"}),
        (lambda: sdk.graders.create.custom(key="c-a", description="d"),
         lambda: ours.create_custom_grader("p", "c-b", description="d"), {"c-b": "c-a"}),
        (lambda: sdk.graders.create.function(key="fn-a", fn=GRADE, description="d"),
         lambda: ours.create_function_grader("p", "fn-b", fn=GRADE, description="d"), {"fn-b": "fn-a"}),
        (lambda: sdk.graders.list(), lambda: ours.list_graders("p"), {}),
        (lambda: sdk.graders.get(grader_key="j-a"), lambda: ours.get_grader("p", "j-a"), {}),
        (lambda: sdk.graders.lock(grader_key="j-a", locked=True), lambda: ours.lock_grader("p", "j-a", True), {}),
        (lambda: sdk.graders.delete(grader_key="c-a"), lambda: ours.delete_grader("p", "c-b"), {"c-b": "c-a"}),
        (lambda: sdk.graders.test_external_endpoint(URL), lambda: ours.test_reward_server(URL), {}),
        (lambda: sdk.users.me(), lambda: ours.me(), {}),
        (lambda: sdk.users.list(), lambda: ours.list_users(), {}),
        (lambda: sdk.teams.create("t-a", name="T"), lambda: ours.create_team("t-b", name="T"), {"t-b": "t-a"}),
        (lambda: sdk.teams.list(), lambda: ours.list_teams(), {}),
        (lambda: sdk.roles.create("r-a", ["project:read"]), lambda: ours.create_role("r-b", ["project:read"]),
         {"r-b": "r-a"}),
        (lambda: sdk.roles.list(), lambda: ours.list_roles(), {}),
        (lambda: sdk.permissions.list(), lambda: ours.list_permissions(), {}),
        (lambda: sdk.users.create("a@x.io", "A", [("t-a", "r-a")]),
         lambda: ours.create_user("b@x.io", "A", [("t-a", "r-a")]), {"b@x.io": "a@x.io"}),
        (lambda: sdk.users.create_service_account("bot-a", [("default", "member")]),
         lambda: ours.create_service_account("bot-b", [("default", "member")]), {"bot-b": "bot-a"}),
        (lambda: sdk.users.add_to_team("a@x.io", "default", "member"),
         lambda: ours.add_user_to_team("b@x.io", "default", "member"), {"b@x.io": "a@x.io"}),
        (lambda: sdk.users.remove_from_team("a@x.io", "t-a"), lambda: ours.remove_user_from_team("b@x.io", "t-a"),
         {"b@x.io": "a@x.io"}),
        (lambda: sdk.users.delete("a@x.io"), lambda: ours.delete_user("b@x.io"), {"b@x.io": "a@x.io"}),
        (lambda: sdk.models.terminate(QWEN), lambda: ours.terminate_model(QWEN), {}),
    ]
    for theirs, mine, rename in pairs:
        _same(e, theirs, mine, rename)


def test_wire_parity_of_recipe_uploads(ours: AdaptiveClient, sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle,
                                       tmp_path: Path) -> None:
    """Uploads part by part (the operations part, the map, the file part's headers and bytes, a directory's zip
    byte for byte); the metadata-only update as JSON."""
    e = adaptive_emulator
    e.ensure_project("p")
    sdk.set_default_project("p")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sft.py").write_text(RECIPE)
        (tmp_path / name / "dir").mkdir()
        (tmp_path / name / "dir" / "main.py").write_text(RECIPE)
        (tmp_path / name / "dir" / "config.py").write_text("X = 1\n")
        (tmp_path / name / "dir" / "notes.log").write_text("ignored\n")
        (tmp_path / name / "dir" / ".gitignore").write_text("*.log\n")
        for path in (tmp_path / name / "dir").iterdir():  # the zip holds mtimes: the twins' must agree
            os.utime(path, (1_700_000_000, 1_700_000_000))
    uploads: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
        (lambda: sdk.recipes.upload(str(tmp_path / "a" / "sft.py"), recipe_key="sft-a", labels={"k": "v"},
                                    description="d"),
         lambda: ours.upload_recipe("p", tmp_path / "b" / "sft.py", key="sft-b", labels={"k": "v"}, description="d")),
        (lambda: sdk.recipes.upload(str(tmp_path / "a" / "dir"), recipe_key="dir-a", entrypoint_config="config.py"),
         lambda: ours.upload_recipe("p", tmp_path / "b" / "dir", key="dir-b", entrypoint_config="config.py")),
        (lambda: sdk.recipes.update("sft-a", path=str(tmp_path / "a" / "sft.py"), name="N"),
         lambda: ours.update_recipe("p", "sft-b", path=tmp_path / "b" / "sft.py", name="N")),
    ]
    for theirs, mine in uploads:
        e.request_log.clear()
        theirs()
        expected = [multipart_parts(entry) for entry in e.request_log]
        e.request_log.clear()
        mine()
        got = [multipart_parts(entry) for entry in e.request_log]
        normalized = json.loads(json.dumps(got, default=lambda b: b.hex()).replace("sft-b", "sft-a")
                                .replace("dir-b", "dir-a"))
        assert normalized == json.loads(json.dumps(expected, default=lambda b: b.hex())), (expected, got)
    _same(e, lambda: sdk.recipes.update("sft-a", description="x"),
          lambda: ours.update_recipe("p", "sft-b", description="x"), {"sft-b": "sft-a"})
    _same(e, lambda: sdk.recipes.upsert(str(tmp_path / "a" / "sft.py"), recipe_key="sft-a"),
          lambda: ours.upsert_recipe("p", tmp_path / "b" / "sft.py", key="sft-b"), {"sft-b": "sft-a"})
    _same(e, lambda: sdk.recipes.delete("sft-a"), lambda: ours.delete_recipe("p", "sft-b"), {"sft-b": "sft-a"})
