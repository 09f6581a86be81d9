"""AdaptiveClient's models, compute pools, recipes, graders, reward servers and admin surface against the emulator:
every method, its effect on the emulator's state, errors for bad input (ours before sending, the server's after),
and secrets (a Hugging Face token, a provider's key, a service account's key) never in a repr, a log, an error or
the emulator's request log."""

import io
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagster_labeling._core import InvalidInput, WaitOptions
from dagster_labeling.adaptive import AdaptiveClient, AdaptiveGraphQLError, AdaptiveNotFound, AdaptiveUnauthorized
from dagster_labeling.testing.adaptive import AdaptiveEmulator
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
HF_TOKEN = "hf_SECRETtoken1234567890"
PROVIDER_KEY = "sk-provider-SECRET-0987654321"
RECIPE = "from adaptive_harmony import recipe_main\n\n@recipe_main\nasync def main(config, ctx):\n    return None\n"
GRADE = "async def grade(thread):\n    return 1.0\n"


@pytest.fixture
def ours(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        yield client


def emu(handle: AdaptiveEmulatorHandle) -> AdaptiveEmulator:
    state: AdaptiveEmulator = handle.state
    return state


def logged(handle: AdaptiveEmulatorHandle) -> str:
    return "\n".join(entry.body.decode("utf-8", "replace") for entry in handle.request_log)


# -- models --------------------------------------------------------------------------------------------------
def test_add_hf_model_imports_through_a_job_and_keeps_the_token_secret(
        ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    job = ours.add_hf_model("Qwen/Qwen2.5-0.5B-Instruct", "Qwen 0.5B", "qwen-05b", HF_TOKEN, compute_pool="default")
    assert job.status in ("PENDING", "RUNNING") and job.recipe is not None and job.recipe.key == "import-hf-model"
    with pytest.raises(AdaptiveNotFound):
        ours.get_model("qwen-05b")  # not there until the import completes
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):  # an import of that key is under way
        ours.add_hf_model("Qwen/Qwen2.5-0.5B-Instruct", "Qwen 0.5B", "qwen-05b", HF_TOKEN)
    adaptive_emulator.complete_all()
    assert ours.job(job.id).wait(WaitOptions(poll_interval_seconds=0.01, timeout_seconds=5)).state.value == "SUCCEEDED"
    model = ours.get_model("qwen-05b")
    assert (model.name, model.is_external, model.is_adapter) == ("Qwen 0.5B", False, False)
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.add_hf_model("Qwen/Qwen2.5-0.5B-Instruct", "again", "qwen-05b", HF_TOKEN)
    with pytest.raises(AdaptiveNotFound, match="compute pool"):
        ours.add_hf_model("Qwen/Qwen3-8B", "Qwen 3", "qwen3", HF_TOKEN, compute_pool="nope")
    for bad in ({"hf_model_id": "no-org"}, {"hf_token": ""}, {"output_model_key": " "}):
        args: dict[str, Any] = {"hf_model_id": "Qwen/Qwen3-8B", "output_model_name": "n", "output_model_key": "k",
                                "hf_token": HF_TOKEN, **bad}
        with pytest.raises(InvalidInput):
            ours.add_hf_model(**args)
    # the token went to the server (sent, not stored) and is nowhere else
    assert HF_TOKEN not in logged(adaptive_emulator) and "<redacted>" in logged(adaptive_emulator)
    assert HF_TOKEN not in caplog.text and HF_TOKEN not in repr(job) and HF_TOKEN not in repr(ours)
    assert HF_TOKEN not in repr(emu(adaptive_emulator).jobs)


@pytest.mark.parametrize(("provider", "extra", "enum"), [
    ("open_ai", {"extra_params": {"temperature": 0}}, "OPEN_AI"),
    ("legacy_open_ai", {}, "LEGACY_OPEN_AI"),
    ("google", {}, "GOOGLE"),
    ("anthropic", {"extra_params": {"max_tokens": 512}}, "ANTHROPIC"),
    ("azure", {"endpoint": "https://acme.openai.azure.com"}, "OPEN_AI"),
])
def test_add_external_every_provider(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle,
                                     provider: str, extra: dict[str, Any], enum: str) -> None:
    model = ours.add_external_model(f"Ext {provider}", "model-x", PROVIDER_KEY, provider, **extra)
    assert (model.key, model.is_external, model.provider_name, model.online) == (
        f"ext-{provider.replace('_', '-')}", True, enum, "ONLINE")
    assert ours.get_model(model.key).provider_name == enum
    state = emu(adaptive_emulator)
    assert state.model_credentials[model.key] != PROVIDER_KEY and PROVIDER_KEY not in repr(state.models)
    assert PROVIDER_KEY not in logged(adaptive_emulator)
    sent = adaptive_emulator.request_log.entries("POST")[-2].json()["variables"]["input"]  # before get_model
    field = {"OPEN_AI": "openAI", "LEGACY_OPEN_AI": "legacyOpenAI", "GOOGLE": "google", "ANTHROPIC": "anthropic"}
    assert sent["provider"] == enum and list(sent["providerData"]) == [field[enum]]
    assert sent["providerData"][field[enum]]["apiKey"] == "<redacted>"


def test_add_external_errors_carry_no_key(ours: AdaptiveClient) -> None:
    ours.add_external("gpt", "gpt-4o-mini", PROVIDER_KEY)
    with pytest.raises(AdaptiveGraphQLError, match="already exists") as info:
        ours.add_external("gpt", "gpt-4o-mini", PROVIDER_KEY)
    assert PROVIDER_KEY not in str(info.value) and PROVIDER_KEY not in repr(info.value.body)
    with pytest.raises(InvalidInput, match="endpoint"):
        ours.add_external("az", "gpt-4o", PROVIDER_KEY, "azure")
    with pytest.raises(InvalidInput, match="provider"):
        ours.add_external("x", "m", PROVIDER_KEY, "cohere")
    with pytest.raises(InvalidInput, match="extra_params"):
        ours.add_external("g", "gemini", PROVIDER_KEY, "google", extra_params={"a": 1})
    with pytest.raises(InvalidInput, match="api_key") as empty:
        ours.add_external("g", "gemini", "", "google")
    assert empty.value.field == "api_key"


def test_update_compute_config_and_terminate(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    model = ours.update_model_compute_config(LLAMA, tp=2, max_seq_len=16384)
    assert model.compute_config is not None
    assert (model.compute_config.tp, model.compute_config.kv_cache_len, model.compute_config.max_seq_len) == (
        2, 32768, 16384)
    assert emu(adaptive_emulator).models[LLAMA]["computeConfig"]["tp"] == 2
    with pytest.raises(InvalidInput):
        ours.update_model_compute_config(LLAMA)
    with pytest.raises(InvalidInput, match="tp"):
        ours.update_model_compute_config(LLAMA, tp=0)
    ours.add_external("gpt", "gpt-4o-mini", PROVIDER_KEY)
    with pytest.raises(AdaptiveGraphQLError, match="external"):
        ours.update_model_compute_config("gpt", tp=2)
    with pytest.raises(AdaptiveNotFound):
        ours.update_model_compute_config("nope", tp=2)

    adaptive_emulator.ensure_project("a", models=[QWEN])
    adaptive_emulator.ensure_project("b", models=[QWEN])
    with pytest.raises(AdaptiveGraphQLError, match="force"):
        ours.terminate_model(QWEN)
    assert ours.get_model(QWEN).online == "ONLINE"
    assert "terminated" in ours.terminate_model(QWEN, force=True)
    assert ours.get_model(QWEN).online == "OFFLINE"
    assert not any(s.desired_online for s in ours.get_project("a").model_services)


def test_update_model_attached_as_the_seed(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p", models=[LLAMA], default=LLAMA)
    service = ours.update_model("p", QWEN, attached=True, desired_online=True)
    assert (service.key, service.desired_online) == (QWEN, True)
    assert {s.key for s in ours.get_project("p").model_services} == {LLAMA, QWEN}
    detached = ours.update_model("p", QWEN, attached=False)
    assert detached.key == QWEN
    assert {s.key for s in ours.get_project("p").model_services} == {LLAMA}
    with pytest.raises(AdaptiveNotFound):
        ours.update_model("p", QWEN, attached=False)
    with pytest.raises(InvalidInput):
        ours.update_model("p", LLAMA, attached=False, is_default=True)
    with pytest.raises(AdaptiveGraphQLError, match="model"):
        ours.update_model("p", "no-such-model", attached=True)


# -- compute pools -------------------------------------------------------------------------------------------
def test_compute_pools_list_and_resize(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p", models=[LLAMA])
    pools = {p.key: p for p in ours.list_compute_pools()}
    assert set(pools) == {"default", "training"}
    group = pools["default"].harmony_groups[0]
    assert (group.world_size, group.inference_gpus, pools["default"].capabilities) == (8, 2, ["INFERENCE", "JOB"])
    assert LLAMA in {m.key for m in group.online_models}
    ours.resize_inference_partition("default", 6)
    assert ours.list_compute_pools()[0].harmony_groups[0].inference_gpus == 6
    with pytest.raises(AdaptiveGraphQLError, match="out of range"):
        ours.resize_inference_partition("default", 9)
    with pytest.raises(AdaptiveGraphQLError, match="INFERENCE"):
        ours.resize_inference_partition("training", 1)
    with pytest.raises(AdaptiveNotFound):
        ours.resize_inference_partition("nope", 1)
    with pytest.raises(InvalidInput):
        ours.resize_inference_partition("default", -1)
    ours.resize_inference_partition("default", 0)
    assert ours.list_compute_pools()[0].harmony_groups[0].online_models == []


# -- recipes -------------------------------------------------------------------------------------------------
def test_recipes_upload_get_list_update_delete(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle,
                                               tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("p")
    (tmp_path / "My SFT.py").write_text(RECIPE)
    recipe = ours.upload_recipe("p", tmp_path / "My SFT.py", description="sft", labels={"team": "ml"})
    assert (recipe.key, recipe.name, recipe.content, recipe.label_map) == ("my-sft", "my-sft", RECIPE, {"team": "ml"})
    assert ours.get_recipe("p", "my-sft").id == recipe.id == ours.get_recipe("p", recipe.id).id
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.upload_recipe("p", tmp_path / "My SFT.py")

    directory = tmp_path / "grpo"
    (directory / "lib").mkdir(parents=True)
    (directory / "train.py").write_text(RECIPE)
    (directory / "config.py").write_text("class InputConfig:\n    pass\n")
    (directory / "lib" / "util.py").write_text("X = 1\n")
    (directory / "secret.env").write_text("TOKEN=x\n")
    (directory / ".zipignore").write_text("*.env\n")
    zipped = ours.upload_recipe("p", directory, entrypoint="train.py", entrypoint_config="config.py",
                                labels={"team": "rl"})
    assert (zipped.key, zipped.content) == ("grpo/train", None)
    stored = zipfile.ZipFile(io.BytesIO(next(r["file"] for r in emu(adaptive_emulator).recipes.values()
                                             if r["key"] == "grpo/train")))
    assert sorted(stored.namelist()) == [".zipignore", "config.py", "lib/util.py", "train.py"]

    assert [r.key for r in ours.list_recipes("p")] == ["my-sft", "grpo/train"]
    assert [r.key for r in ours.list_recipes("p", labels={"team": ["rl"]})] == ["grpo/train"]
    assert [r.key for r in ours.list_recipes("p", labels={"team": None})] == ["my-sft", "grpo/train"]

    updated = ours.update_recipe("p", "my-sft", name="My SFT v2")
    assert (updated.name, updated.content, updated.updated_at is not None) == ("My SFT v2", RECIPE, True)
    (tmp_path / "My SFT.py").write_text(RECIPE + "# v3\n")
    upserted = ours.upsert_recipe("p", tmp_path / "My SFT.py")
    assert upserted.id == recipe.id and upserted.content is not None and upserted.content.endswith("# v3\n")
    (tmp_path / "fresh.py").write_text(RECIPE)
    assert ours.upsert_recipe("p", tmp_path / "fresh.py").key == "fresh"

    assert ours.delete_recipe("p", "my-sft") is True
    with pytest.raises(AdaptiveNotFound):
        ours.get_recipe("p", "my-sft")
    with pytest.raises(AdaptiveNotFound):
        ours.delete_recipe("p", "my-sft")


def test_recipe_bad_input(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle, tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("p")
    (tmp_path / "broken.py").write_text("def main(:\n")
    with pytest.raises(AdaptiveGraphQLError, match="not valid Python"):
        ours.upload_recipe("p", tmp_path / "broken.py")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "ok.py").write_text(RECIPE)
    adaptive_emulator.request_log.clear()
    for path, kwargs in ((tmp_path / "notes.txt", {}), (tmp_path / "empty", {}), (tmp_path / "missing.py", {}),
                         (tmp_path / "ok.py", {"entrypoint": "main.py"})):
        with pytest.raises(InvalidInput):
            ours.upload_recipe("p", path, **kwargs)
    assert len(adaptive_emulator.request_log) == 0  # nothing sent for a bad recipe
    with pytest.raises(AdaptiveNotFound):
        ours.upload_recipe("nope", tmp_path / "ok.py")


# -- graders and reward servers ------------------------------------------------------------------------------
def test_graders_every_kind(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p", models=[LLAMA])
    emu(adaptive_emulator).add_reachable_reward_server("https://rewards.example.com", version="2.1")
    judge = ours.create_judge_grader("p", "polite", criteria="Is the answer polite?", judge_model=LLAMA, examples=[
        {"input": [{"role": "user", "content": "Hi"}], "output": "Go away", "passes": False, "reasoning": "rude"}])
    assert (judge.grader_type, judge.metric.kind if judge.metric else None) == ("JUDGE", "BOOL")
    assert judge.grader_config["judgeCriteria"] == "Is the answer polite?"
    assert judge.grader_config["examples"][0]["pass"] is False and judge.grader_config["model"]["key"] == LLAMA
    prebuilt = ours.create_prebuilt_grader("p", "relevant", judge_model=LLAMA, type="answer_relevancy")
    assert prebuilt.grader_config["prebuiltCriteria"]["key"] == "ANSWER_RELEVANCY"
    remote = ours.create_endpoint_grader("p", "reward", url="https://rewards.example.com", name="Reward")
    assert (remote.name, remote.grader_config["version"], remote.metric.kind if remote.metric else None) == (
        "Reward", "2.1", "SCALAR")
    custom = ours.create_custom_grader("p", "human", description="scores from reviewers")
    assert custom.grader_config["graderDescription"] == "scores from reviewers"

    async def length_score(thread: Any) -> float:
        return float(len(str(thread)))

    function = ours.create_function_grader("p", "length", fn=length_score, description="longer is better")
    assert function.grader_config["sourceCode"].startswith("async def grade(thread")
    assert ours.validate_function_grader("p", GRADE).valid is True
    verdict = ours.validate_function_grader("p", "def grade(x):\n    return 1\n")
    assert not verdict.valid and [c.name for c in verdict.checks if not c.passed] == ["signature"]
    with pytest.raises(InvalidInput, match="signature"):
        ours.create_function_grader("p", "bad", fn="def grade(x):\n    return 1\n")

    assert [g.key for g in ours.list_graders("p")] == ["polite", "relevant", "reward", "human", "length"]
    assert {"polite", "reward", "length"} <= {m.key for m in ours.list_feedback_keys()}  # each scores a metric
    assert ours.get_grader("p", "polite").id == judge.id
    assert ours.lock_grader("p", "polite").locked is True
    assert ours.delete_grader("p", "polite") is False  # locked: refused, with the reason
    ours.lock_grader("p", "polite", locked=False)
    assert ours.delete_grader("p", "polite") is True
    with pytest.raises(AdaptiveNotFound):
        ours.get_grader("p", "polite")
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.create_custom_grader("p", "human")
    with pytest.raises(AdaptiveNotFound, match="model"):
        ours.create_judge_grader("p", "j2", criteria="c", judge_model="nope")
    with pytest.raises(InvalidInput):
        ours.create_prebuilt_grader("p", "x", judge_model=LLAMA, type="toxicity")
    with pytest.raises(InvalidInput):
        ours.create_endpoint_grader("p", "x", url="rewards.example.com")
    with pytest.raises(InvalidInput, match="examples"):
        ours.create_judge_grader("p", "j3", criteria="c", judge_model=LLAMA, examples=[{"input": []}])


def test_reward_servers(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    url = "wss://rewards.example.com:50056"
    offline = ours.test_reward_server(url)
    assert not offline.online and offline.error is not None and "connection refused" in offline.error
    with pytest.raises(AdaptiveGraphQLError, match="not reachable"):
        ours.add_reward_server(url)
    emu(adaptive_emulator).add_reachable_reward_server(url, name="scary-letter", version="0.3.0")
    online = ours.test_external_endpoint(url)
    assert (online.online, online.name, online.version) == (True, "scary-letter", "0.3.0")
    server = ours.add_reward_server(url, key="letters", description="penalises a letter")
    assert (server.key, server.status, server.version) == ("letters", "ONLINE", "0.3.0")
    assert [s.key for s in ours.list_reward_servers()] == ["letters"]
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.add_reward_server(url, key="letters")
    assert "removed" in ours.remove_reward_server("letters")
    assert ours.list_reward_servers() == []
    with pytest.raises(AdaptiveNotFound):
        ours.remove_reward_server("letters")
    with pytest.raises(AdaptiveGraphQLError, match="url"):
        ours.test_reward_server("not a url")


# -- users, teams, roles, permissions ------------------------------------------------------------------------
def test_users_teams_roles_permissions(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    me = ours.me()
    assert me.role_in("default") == "admin"
    permissions = ours.list_permissions()
    assert "project:read" in permissions
    assert {r.key for r in ours.list_roles()} == {"admin", "member", "read-only"}
    role = ours.create_role("labeler", ["project:read", "feedback:write"], name="Labeler")
    assert (role.key, role.name, role.permissions) == ("labeler", "Labeler", ["project:read", "feedback:write"])
    with pytest.raises(AdaptiveGraphQLError, match="Unknown permission"):
        ours.create_role("bad", ["launch:rockets"])
    with pytest.raises(InvalidInput):
        ours.create_role("empty", [])
    team = ours.create_team("labelers")
    assert (team.key, team.name) == ("labelers", "labelers")
    assert [t.key for t in ours.list_teams()] == ["default", "labelers"]
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.create_team("labelers")

    ada = ours.create_user("ada@example.com", "Ada", [("labelers", "labeler")])
    assert ada.role_in("labelers") == "labeler" and ada.role_in("default") is None
    with pytest.raises(AdaptiveGraphQLError, match="already exists"):
        ours.create_user("ada@example.com", "Ada", [("labelers", "labeler")])
    with pytest.raises(AdaptiveNotFound, match="team"):
        ours.create_user("bob@example.com", "Bob", [("nope", "labeler")])
    with pytest.raises(InvalidInput):
        ours.create_user("not-an-email", "Bob", [])
    assert ours.add_user_to_team("ada@example.com", "default", "read-only").role_in("default") == "read-only"
    assert ours.add_user_to_team("ada@example.com", "default", "member").role_in("default") == "member"
    assert ours.remove_user_from_team("ada@example.com", "labelers").role_in("labelers") is None
    with pytest.raises(AdaptiveGraphQLError, match="not a member"):
        ours.remove_user_from_team("ada@example.com", "labelers")

    account = ours.create_service_account("ci-bot", [("default", "member")])
    key = account.api_key.get_secret_value()
    assert account.email == "ci-bot@system.adaptive.local" and key not in repr(account) and key not in str(account)
    with pytest.raises(InvalidInput):
        ours.create_service_account("CI Bot", [("default", "member")])
    with AdaptiveClient(key, base_url=adaptive_emulator.base_url) as bot:  # the new key works
        assert "ci-bot@system.adaptive.local" in {u.email for u in bot.list_users()}
    assert key not in logged(adaptive_emulator)  # answered once (as the API does), never sent back
    assert key not in caplog.text and key not in repr(emu(adaptive_emulator).users)

    assert ours.delete_user("ada@example.com").email == "ada@example.com"
    with pytest.raises(AdaptiveNotFound):
        ours.delete_user("ada@example.com")
    with pytest.raises(AdaptiveGraphQLError, match="own user"):
        ours.delete_user(me.email)
    with AdaptiveClient("sk-not-a-key-123", base_url=adaptive_emulator.base_url) as stranger:
        with pytest.raises(AdaptiveUnauthorized):
            stranger.list_users()


def test_the_emulator_rejects_malformed_inputs(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    """What our client never sends, the emulator refuses as the server would: unknown fields, missing required
    fields, wrong types, values outside an enum."""
    cases = [
        ("CreateTeam", {"input": {"key": "t", "name": "T", "color": "red"}}, 'unknown field "color"'),
        ("CreateTeam", {"input": {"key": "t"}}, 'field "name" of type "TeamCreate" is required'),
        ("ResizeInferencePartition", {"input": {"computePool": "default", "size": "2"}}, "expected Int"),
        ("AddExternalModel", {"input": {"name": "m", "provider": "AZURE"}}, 'does not contain the value'),
        ("AddExternalModel", {"input": {"name": "m", "provider": "GOOGLE", "providerData": {
            "google": {"apiKey": "k", "externalModelId": "g", "extraParams": {}}}}}, 'unknown field "extraParams"'),
        ("AddExternalModel", {"input": {"name": "m", "provider": "OPEN_AI", "providerData": {
            "google": {"apiKey": "k", "externalModelId": "g"}}}}, "exactly 'openAI'"),
        ("TerminateModel", {"idOrKey": LLAMA}, '"force"'),
        ("CreateUser", {"input": {"name": "x", "teams": [{"team": "default"}]}}, 'field "role"'),
    ]
    for operation, variables, message in cases:
        with pytest.raises(AdaptiveGraphQLError, match=message):
            ours.graphql(operation, variables)
