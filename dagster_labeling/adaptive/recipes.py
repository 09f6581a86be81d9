"""Recipes, graders and external reward servers of the Adaptive ML client.

:class:`RecipesMixin` gives :class:`~dagster_labeling.adaptive.AdaptiveClient` the official SDK's ``recipes.*``
(upload a ``.py`` file or a directory, zipped as the SDK zips it; list, get, update, delete, upsert),
``graders.*`` (binary judge, prebuilt judge, external endpoint, custom and function graders; list, get, lock,
delete, test an endpoint) and the reward servers the API calls *remote envs* (add, list, remove, test), with the
SDK's operation names and variables (``adaptive-sdk`` 0.14.2). Where the SDK restricts more than the API
(prebuilt judges other than faithfulness), the API's own enum decides.

>>> recipe_key(Path("recipes/My SFT_v2.py"))
'my-sft-v2'
>>> recipe_key(Path("."), entrypoint="train/main.py", name="Support SFT")
'support-sft'
"""

import fnmatch
import inspect
import io
import json
import mimetypes
import os
import re
import textwrap
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster_labeling._core import InvalidInput
from dagster_labeling.adaptive._judge_templates import JUDGE_SYSTEM_TEMPLATE, JUDGE_USER_TEMPLATE
from dagster_labeling.adaptive.admin_models import (
    FunctionGraderValidation,
    Grader,
    Recipe,
    RewardServer,
    RewardServerTest,
)
from dagster_labeling.adaptive.errors import AdaptiveNotFound
from dagster_labeling.adaptive.operations import OPERATIONS

if TYPE_CHECKING:
    import httpx

    from dagster_labeling._core import HttpTransport

PLATFORM = "Adaptive ML"
GRAPHQL_PATH = "api/graphql"
PREBUILT_JUDGES = ("FAITHFULNESS", "ANSWER_RELEVANCY", "CONTEXT_RELEVANCY")

_RECIPE = ("id key name content contentHash editable global builtin inputSchema jsonSchema description "
           "labels { key value } createdAt updatedAt")
_METRIC = "id key name kind description scoringType createdAt"
_GRADER = ("id name key locked graderType graderConfig { __typename "
           "... on JudgeConfigOutput { judgeCriteria: criteria examples { input { role content } output pass "
           "reasoning } model { id key name } } "
           "... on PrebuiltConfigOutput { prebuiltCriteria: criteria { key name description } model { id key name } } "
           "... on RemoteConfigOutput { url version description } "
           "... on CustomConfigOutput { graderDescription: description } "
           "... on FunctionConfigOutput { sourceCode functionDescription: description } } "
           f"project {{ id key name }} metric {{ {_METRIC} }} createdAt updatedAt")
_REMOTE_ENV = "id key name url description createdAt version status metadataSchema"

RECIPE_OPERATIONS: dict[str, str] = {
    "ListCustomRecipes": (f"query ListCustomRecipes($project: IdOrKey!, $filter: CustomRecipeFilterInput!) "
                          f"{{ customRecipes(project: $project, filter: $filter) {{ {_RECIPE} }} }}"),
    "GetCustomRecipe": (f"query GetCustomRecipe($idOrKey: IdOrKey!, $project: IdOrKey!) "
                        f"{{ customRecipe(idOrKey: $idOrKey, project: $project) {{ {_RECIPE} }} }}"),
    "CreateCustomRecipe": (
        f"mutation CreateCustomRecipe($project: IdOrKey!, $input: CreateRecipeInput!, $file: Upload!) "
        f"{{ createCustomRecipe(project: $project, input: $input, file: $file) {{ {_RECIPE} }} }}"),
    "UpdateCustomRecipe": (
        f"mutation UpdateCustomRecipe($project: IdOrKey!, $id: IdOrKey!, $input: UpdateRecipeInput!, $file: Upload) "
        f"{{ updateCustomRecipe(project: $project, id: $id, input: $input, file: $file) {{ {_RECIPE} }} }}"),
    "DeleteCustomRecipe": ("mutation DeleteCustomRecipe($project: IdOrKey!, $id: IdOrKey!) "
                           "{ deleteCustomRecipe(project: $project, id: $id) }"),
    "CreateGrader": (f"mutation CreateGrader($project: IdOrKey!, $input: GraderCreateInput!) "
                     f"{{ createGrader(project: $project, input: $input) {{ {_GRADER} }} }}"),
    "GetGrader": (f"query GetGrader($id: IdOrKey!, $project: IdOrKey!) "
                  f"{{ grader(id: $id, project: $project) {{ {_GRADER} }} }}"),
    "ListGraders": f"query ListGraders($project: IdOrKey!) {{ graders(project: $project) {{ {_GRADER} }} }}",
    "DeleteGrader": ("mutation DeleteGrader($project: IdOrKey!, $id: IdOrKey!) "
                     "{ deleteGrader(project: $project, id: $id) { success details } }"),
    "LockGrader": (f"mutation LockGrader($project: IdOrKey!, $id: IdOrKey!, $locked: Boolean!) "
                   f"{{ lockGrader(project: $project, id: $id, locked: $locked) {{ {_GRADER} }} }}"),
    "ValidateFunctionGrader": (
        "mutation ValidateFunctionGrader($project: IdOrKey!, $code: String!, $testSample: JSON) "
        "{ validateFunctionGrader(project: $project, code: $code, testSample: $testSample) "
        "{ valid checks { name passed message } warnings } }"),
    "AddRemoteEnv": (f"mutation AddRemoteEnv($input: RemoteEnvCreate!) "
                     f"{{ addRemoteEnv(input: $input) {{ {_REMOTE_ENV} }} }}"),
    "ListRemoteEnvs": f"query ListRemoteEnvs {{ remoteEnvs {{ {_REMOTE_ENV} }} }}",
    "RemoveRemoteEnv": "mutation RemoveRemoteEnv($idOrKey: IdOrKey!) { removeRemoteEnv(idOrKey: $idOrKey) }",
    "TestRemoteEnv": ("mutation TestRemoteEnv($input: RemoteEnvCreate!) { testRemoteEnv(input: $input) { __typename "
                      "... on RemoteEnvTestOffline { error } "
                      "... on RemoteEnvTestOnline { name version description } } }"),
}
OPERATIONS.update(RECIPE_OPERATIONS)  # the client's one table of documents (AdaptiveClient.graphql)


def _key(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty key or id, got {value!r}.", field=field)
    return value


def _slugify(value: str) -> str:
    value = re.sub(r"[^\w\s/-]", "", value.lower().strip())
    return re.sub(r"-+", "-", re.sub(r"[\s_]+", "-", value)).strip("-")


def recipe_key(path: Path, *, entrypoint: str | None = None, name: str | None = None) -> str:
    """The key the SDK gives a recipe uploaded without one: the slug of ``name``, else of the file's stem, the
    directory's name, or ``<directory>/<entrypoint stem>``."""
    if name is not None:
        return _slugify(name)
    if path.suffix == ".py" or path.is_file():
        return _slugify(path.stem)
    return _slugify(f"{path.resolve().name}/{Path(entrypoint).stem}" if entrypoint else path.resolve().name)


def _ignore_patterns(directory: Path) -> list[str]:
    for name in (".zipignore", ".gitignore"):
        if (directory / name).is_file():
            lines = (line.strip() for line in (directory / name).read_text().splitlines())
            return [line for line in lines if line and not line.startswith("#")]
    return []


def _ignored(rel_path: str, patterns: list[str]) -> bool:
    parts = rel_path.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if any(fnmatch.fnmatch(part, pattern.rstrip("/")) for part in parts[:-1]):
                return True
            if fnmatch.fnmatch(parts[-1], pattern.rstrip("/")):
                continue
        if fnmatch.fnmatch(parts[-1], pattern) or fnmatch.fnmatch(rel_path, pattern):
            return True
    return False


def zip_recipe_directory(directory: Path) -> bytes:
    """A recipe directory as the SDK uploads it: a zip of its files, less those matched by ``.zipignore`` (or else
    ``.gitignore``)."""
    patterns = _ignore_patterns(directory)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(directory):
            rel_root = Path(root).relative_to(directory).as_posix()
            if patterns:
                dirs[:] = [d for d in dirs if not _ignored(
                    (f"{rel_root}/{d}" if rel_root != "." else d) + "/placeholder", patterns)]
            for file_name in files:
                arcname = (Path(root) / file_name).relative_to(directory).as_posix()
                if not (patterns and _ignored(arcname, patterns)):
                    archive.write(Path(root) / file_name, arcname)
    return buffer.getvalue()


def recipe_file(path: str | os.PathLike[str], *, entrypoint: str | None = None,
                entrypoint_config: str | None = None) -> tuple[str, bytes, str]:
    """``(filename, content, content type)`` of a recipe upload: a ``.py`` file as it is, a directory zipped (it
    must hold ``main.py`` or ``entrypoint``, and ``entrypoint_config`` when given). Checked before anything is
    sent."""
    p = Path(path)
    if p.is_file():
        if entrypoint or entrypoint_config:
            raise InvalidInput("entrypoint and entrypoint_config apply to a recipe directory, not a single file.",
                               field="entrypoint")
        if p.suffix.lower() != ".py":
            raise InvalidInput(f"A single-file recipe must be a .py file, got {p.name!r}.", field="path")
        return p.name, p.read_bytes(), mimetypes.guess_type(str(p))[0] or "application/octet-stream"
    if p.is_dir():
        for label, rel in (("entrypoint", entrypoint or "main.py"), ("entrypoint_config", entrypoint_config)):
            if rel and not (p / rel).is_file():
                raise InvalidInput(f"The recipe directory {p} has no {rel} ({label}).", field=label)
        return f"{p.name}.zip", zip_recipe_directory(p), "application/zip"
    raise InvalidInput(f"No recipe file or directory at {p}.", field="path")


def _labels(labels: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    return [{"key": str(k), "value": str(v)} for k, v in labels.items()] if labels else None


def function_source(fn: Callable[..., Awaitable[float]] | str) -> str:
    """A function grader's source as the SDK sends it: a string as it is; a function's source, dedented, renamed to
    ``grade``."""
    if isinstance(fn, str):
        if not fn.strip():
            raise InvalidInput("The function grader's source is empty.", field="fn")
        return fn
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise InvalidInput(f"Cannot read the source of {fn!r} ({exc}): define it in a .py file or pass the source "
                           "as a string.", field="fn") from None
    return re.sub(r"^(async\s+)?def\s+\w+", r"\1def grade", source, count=1, flags=re.MULTILINE)


class RecipesMixin:
    """Recipes, graders and external reward servers on :class:`~dagster_labeling.adaptive.AdaptiveClient`."""

    if TYPE_CHECKING:
        _http: HttpTransport

        def graphql(self, operation: str, variables: Mapping[str, Any] | None = None, *,
                    idempotent: bool | None = None) -> Any: ...

        def _graphql_data(self, operation: str, response: httpx.Response) -> Any: ...

    @staticmethod
    def _absent(what: str) -> AdaptiveNotFound:
        return AdaptiveNotFound(f"No {what}.", platform=PLATFORM, method="POST", path=GRAPHQL_PATH, status_code=200)

    def _multipart(self, operation: str, variables: dict[str, Any], file: tuple[str, bytes, str]) -> Any:
        body = {"query": OPERATIONS[operation], "operationName": operation, "variables": {**variables, "file": None}}
        response = self._http.request("POST", GRAPHQL_PATH, files=[
            ("operations", (None, json.dumps(body).encode())),
            ("map", (None, json.dumps({"0": ["variables.file"]}).encode())),
            ("0", file)], idempotent=False)
        return self._graphql_data(operation, response)

    # -- recipes ------------------------------------------------------------------------------------
    def list_recipes(self, project: str, *, labels: Mapping[str, Sequence[str] | None] | None = None) -> list[Recipe]:
        """The project's custom recipes, optionally those with labels ``{key: [values]}`` (``None``: any value)."""
        flt: dict[str, Any] = {}
        if labels:
            flt["labels"] = [{"key": k, "value": list(v) if v is not None else None} for k, v in labels.items()]
        data = self.graphql("ListCustomRecipes", {"project": _key(project, "project"), "filter": flt})
        return [Recipe.model_validate(r) for r in data.get("customRecipes") or []]

    def get_recipe(self, project: str, recipe: str) -> Recipe:
        """A recipe by key or id (:class:`AdaptiveNotFound` if there is none)."""
        data = self.graphql("GetCustomRecipe", {"idOrKey": _key(recipe, "recipe"), "project": _key(project, "project")})
        if not data.get("customRecipe"):
            raise self._absent(f"recipe {recipe!r} in {project!r}")
        return Recipe.model_validate(data["customRecipe"])

    def upload_recipe(self, project: str, path: str | os.PathLike[str], *, key: str | None = None,
                      entrypoint: str | None = None, entrypoint_config: str | None = None, name: str | None = None,
                      description: str | None = None, labels: Mapping[str, str] | None = None) -> Recipe:
        """Upload a recipe (``recipes.upload``): a ``.py`` file, or a directory (zipped; ``main.py`` or
        ``entrypoint`` runs, ``entrypoint_config`` holds its input config). ``key`` defaults as the SDK's does
        (:func:`recipe_key`). Recipe keys are unique per project: a second upload under a key is refused."""
        file = recipe_file(path, entrypoint=entrypoint, entrypoint_config=entrypoint_config)
        key = key or recipe_key(Path(path), entrypoint=entrypoint, name=name)
        if not key:
            raise InvalidInput(f"No recipe key can be derived from {path!s}: give key=.", field="key")
        data = self._multipart("CreateCustomRecipe", {"project": _key(project, "project"), "input": {
            "key": key, "name": name or key, "description": description, "labels": _labels(labels),
            "entrypoint": entrypoint, "configEntrypoint": entrypoint_config}}, file)
        return Recipe.model_validate(data["createCustomRecipe"])

    def update_recipe(self, project: str, recipe: str, *, path: str | os.PathLike[str] | None = None,
                      entrypoint: str | None = None, entrypoint_config: str | None = None, name: str | None = None,
                      description: str | None = None, labels: Mapping[str, str] | None = None) -> Recipe:
        """Change a recipe's metadata, and its code when ``path`` is given (``recipes.update``)."""
        variables = {"project": _key(project, "project"), "id": _key(recipe, "recipe"), "input": {
            "name": name, "description": description, "labels": _labels(labels), "entrypoint": entrypoint,
            "configEntrypoint": entrypoint_config}}
        if path is not None:
            data = self._multipart("UpdateCustomRecipe", variables, recipe_file(
                path, entrypoint=entrypoint, entrypoint_config=entrypoint_config))
        else:
            data = self.graphql("UpdateCustomRecipe", {**variables, "file": None})
        return Recipe.model_validate(data["updateCustomRecipe"])

    def upsert_recipe(self, project: str, path: str | os.PathLike[str], *, key: str | None = None,
                      entrypoint: str | None = None, entrypoint_config: str | None = None, name: str | None = None,
                      description: str | None = None, labels: Mapping[str, str] | None = None) -> Recipe:
        """Upload the recipe, or replace the code and metadata of the one under its key (``recipes.upsert``)."""
        key = key or recipe_key(Path(path), entrypoint=entrypoint, name=name)
        try:
            self.get_recipe(project, key)
        except AdaptiveNotFound:
            return self.upload_recipe(project, path, key=key, entrypoint=entrypoint,
                                      entrypoint_config=entrypoint_config, name=name, description=description,
                                      labels=labels)
        return self.update_recipe(project, key, path=path, entrypoint=entrypoint, entrypoint_config=entrypoint_config,
                                  name=name, description=description, labels=labels)

    def delete_recipe(self, project: str, recipe: str) -> bool:
        data = self.graphql("DeleteCustomRecipe", {"project": _key(project, "project"), "id": _key(recipe, "recipe")})
        return bool(data.get("deleteCustomRecipe"))

    # -- graders ------------------------------------------------------------------------------------
    def _create_grader(self, project: str, key: str, name: str | None, grader_type: str, config: dict[str, Any],
                       metric_kind: str | None) -> Grader:
        metric = {"name": key, "kind": metric_kind} if metric_kind else None
        data = self.graphql("CreateGrader", {"project": _key(project, "project"), "input": {
            "name": name or key, "key": key, "graderType": grader_type, "graderConfig": config, "metric": metric}})
        return Grader.model_validate(data["createGrader"])

    def create_judge_grader(self, project: str, key: str, *, criteria: str, judge_model: str,
                            examples: Sequence[Mapping[str, Any]] | None = None, name: str | None = None) -> Grader:
        """A binary (pass/fail) AI judge on ``criteria`` (``graders.create.binary_judge``), scoring a BOOL metric
        named ``key``. ``examples``: ``{"input": [{"role", "content"}], "output", "passes", "reasoning"?}``."""
        parsed = []
        for i, example in enumerate(examples or []):
            if not isinstance(example, Mapping) or not all(k in example for k in ("input", "output", "passes")):
                raise InvalidInput(f"examples[{i}] needs 'input', 'output' and 'passes'.", field="examples")
            turns = [{"role": t["role"], "content": c if isinstance(c := t["content"], str) else str(c)}
                     for t in example["input"]]
            parsed.append({"input": turns, "output": example["output"], "reasoning": example.get("reasoning"),
                           "pass": bool(example["passes"])})
        judge = {"model": _key(judge_model, "judge_model"), "criteria": _key(criteria, "criteria"),
                 "examples": parsed, "systemTemplate": JUDGE_SYSTEM_TEMPLATE, "userTemplate": JUDGE_USER_TEMPLATE}
        return self._create_grader(project, _key(key, "key"), name, "JUDGE", {"judge": judge}, "BOOL")

    def create_prebuilt_grader(self, project: str, key: str, *, judge_model: str, type: str = "FAITHFULNESS",
                               name: str | None = None) -> Grader:
        """A prebuilt AI judge (``graders.create.prebuilt_judge``): ``FAITHFULNESS``, ``ANSWER_RELEVANCY`` or
        ``CONTEXT_RELEVANCY`` (the SDK allows only the first; the API's enum has the three)."""
        if type.upper() not in PREBUILT_JUDGES:
            raise InvalidInput(f"type must be one of {PREBUILT_JUDGES}, got {type!r}.", field="type")
        config = {"prebuilt": {"key": type.upper(), "model": _key(judge_model, "judge_model")}}
        return self._create_grader(project, _key(key, "key"), name, "PREBUILT", config, None)

    def create_endpoint_grader(self, project: str, key: str, *, url: str, name: str | None = None) -> Grader:
        """A grader that calls your external reward server at ``url`` (``graders.create.external_endpoint``),
        scoring a SCALAR metric named ``key``."""
        if not re.match(r"^(https?|wss?|grpcs?)://[^/\s]+", _key(url, "url")):
            raise InvalidInput(f"url must be an absolute URL of the reward server, got {url!r}.", field="url")
        return self._create_grader(project, _key(key, "key"), name, "REMOTE", {"remote": {"url": url}}, "SCALAR")

    def create_custom_grader(self, project: str, key: str, *, description: str | None = None,
                             name: str | None = None) -> Grader:
        """A custom grader (scores logged by your own code; ``graders.create.custom``), SCALAR metric ``key``."""
        return self._create_grader(project, _key(key, "key"), name, "CUSTOM", {"custom": {"description": description}},
                                   "SCALAR")

    def validate_function_grader(self, project: str,
                                 fn: Callable[..., Awaitable[float]] | str) -> FunctionGraderValidation:
        """Adaptive's checks of a function grader's source (``async def grade(thread) -> float``)."""
        data = self.graphql("ValidateFunctionGrader", {"project": _key(project, "project"),
                                                       "code": function_source(fn)})
        return FunctionGraderValidation.model_validate(data["validateFunctionGrader"])

    def create_function_grader(self, project: str, key: str, *, fn: Callable[..., Awaitable[float]] | str,
                               description: str | None = None, name: str | None = None) -> Grader:
        """A grader from Python (``graders.create.function``): an async function (its source is sent, renamed
        ``grade``) or the source as a string. Validated by Adaptive first; a failed check raises
        :class:`InvalidInput` with each failure, and nothing is created."""
        source = function_source(fn)
        verdict = self.validate_function_grader(project, source)
        if not verdict.valid:
            failed = "; ".join(f"{c.name}: {c.message}" for c in verdict.checks if not c.passed)
            raise InvalidInput(f"Function grader validation failed: {failed}", field="fn")
        config = {"function": {"sourceCode": source, "description": description}}
        return self._create_grader(project, _key(key, "key"), name, "FUNCTION", config, "SCALAR")

    def list_graders(self, project: str) -> list[Grader]:
        data = self.graphql("ListGraders", {"project": _key(project, "project")})
        return [Grader.model_validate(g) for g in data.get("graders") or []]

    def get_grader(self, project: str, grader: str) -> Grader:
        data = self.graphql("GetGrader", {"id": _key(grader, "grader"), "project": _key(project, "project")})
        if not data.get("grader"):
            raise self._absent(f"grader {grader!r} in {project!r}")
        return Grader.model_validate(data["grader"])

    def lock_grader(self, project: str, grader: str, locked: bool = True) -> Grader:
        """Lock (no more changes) or unlock a grader. Safe to retry."""
        data = self.graphql("LockGrader", {"project": _key(project, "project"), "id": _key(grader, "grader"),
                                           "locked": bool(locked)}, idempotent=True)
        return Grader.model_validate(data["lockGrader"])

    def delete_grader(self, project: str, grader: str) -> bool:
        data = self.graphql("DeleteGrader", {"project": _key(project, "project"), "id": _key(grader, "grader")})
        return bool((data.get("deleteGrader") or {}).get("success"))

    # -- external reward servers (remote envs) ------------------------------------------------------
    def test_reward_server(self, url: str) -> RewardServerTest:
        """Whether Adaptive reaches the reward server at ``url`` (``graders.test_external_endpoint``)."""
        data = self.graphql("TestRemoteEnv", {"input": {"url": _key(url, "url")}})["testRemoteEnv"]
        if data.get("__typename") == "RemoteEnvTestOnline":
            return RewardServerTest(online=True, name=data.get("name"), version=data.get("version"),
                                    description=data.get("description"))
        return RewardServerTest(online=False, error=data.get("error"))

    test_external_endpoint = test_reward_server

    def add_reward_server(self, url: str, *, key: str | None = None, name: str | None = None,
                          description: str | None = None) -> RewardServer:
        """Register an external reward server (a remote env) that graders and training can call."""
        body: dict[str, Any] = {"url": _key(url, "url")}
        body.update({k: v for k, v in (("key", key), ("name", name), ("description", description)) if v is not None})
        return RewardServer.model_validate(self.graphql("AddRemoteEnv", {"input": body})["addRemoteEnv"])

    def list_reward_servers(self) -> list[RewardServer]:
        return [RewardServer.model_validate(e) for e in self.graphql("ListRemoteEnvs").get("remoteEnvs") or []]

    def remove_reward_server(self, reward_server: str) -> str:
        """Unregister a reward server (key or id); returns Adaptive's message."""
        return str(self.graphql("RemoveRemoteEnv", {"idOrKey": _key(reward_server, "reward_server")})
                   .get("removeRemoteEnv"))
