"""The Adaptive ML emulator's models, compute pools, recipes, graders, reward servers (remote envs) and admin
objects (users, teams, roles, permissions: :mod:`.adaptive_users`), on the wire API of ``adaptive-sdk`` 0.14.2;
the input types it checks are in :mod:`.adaptive_inputs`.

:class:`AdaptiveAdminEmulatorMixin` is inherited by :class:`~dagster_labeling.testing.adaptive.AdaptiveEmulator`:
its ``_op_*`` handlers join the emulator's ``operationName`` dispatch (:meth:`admin_operations`) and its state is
cleared with the emulator's. As strict as the server would be: every input object is checked field by field
(required fields, types, enums, unknown fields answer a GraphQL error naming the field and the input type), keys
are unique (models, recipes and graders per project, teams, roles, remote envs, user emails), references must
exist (``EntityNotFound: ...``). Credentials are never echoed nor logged:

* a Hugging Face token or a provider API key is checked (non-empty) and kept only as a SHA-256 fingerprint, and
  the request log keeps GraphQL variables named like a credential (``hfToken``, ``apiKey``, ``token``, ``secret``,
  ``password``) as ``<redacted>``;
* a service account's generated API key is answered once (as the API does), kept as a fingerprint, and
  authenticates requests from then on.

Behaviour worth knowing: ``AddHFModel`` starts an import job (a recipe job of recipe ``import-hf-model``) that
registers the model under ``outputModelKey`` when it completes; compute pools ``default`` (inference and jobs, one
harmony group of 8 GPUs, 2 for inference) and ``training`` (jobs only) exist; ``ResizeInferencePartition`` sets the
inference partition of every harmony group of a pool (0..world size); a reward server is reachable only once
:meth:`AdaptiveAdminEmulatorMixin.add_reachable_reward_server` made it so (``TestRemoteEnv`` answers
``RemoteEnvTestOffline`` otherwise, and ``AddRemoteEnv`` refuses it).
"""

import ast
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dagster_labeling.testing.adaptive_inputs import _fingerprint, _ms, _slug, check_input, redact_graphql_body
from dagster_labeling.testing.adaptive_users import AdaptiveUsersEmulatorMixin


class AdaptiveAdminEmulatorMixin(AdaptiveUsersEmulatorMixin):
    """Models (HF import, external, compute config, terminate), compute pools, recipes, graders, remote envs and
    users/teams/roles/permissions of the Adaptive emulator."""

    # -- wiring ----------------------------------------------------------------------------------------
    def admin_operations(self) -> dict[str, tuple[str, Callable[[dict[str, Any]], Any]]]:
        """operationName -> (root field, handler) of this surface, for the emulator's dispatch."""
        return {
            "AddHFModel": ("importHfModel", self._op_add_hf_model),
            "AddExternalModel": ("addExternalModel", self._op_add_external_model),
            "UpdateModelComputeConfig": ("updateModelComputeConfig", self._op_update_compute_config),
            "TerminateModel": ("terminateModel", self._op_terminate_model),
            "ListComputePools": ("computePools", self._op_list_compute_pools),
            "ListHarmonyGroups": ("harmonyGroups", self._op_list_harmony_groups),
            "ResizeInferencePartition": ("resizeInferencePartition", self._op_resize_inference),
            "ListCustomRecipes": ("customRecipes", self._op_list_recipes),
            "GetCustomRecipe": ("customRecipe", self._op_get_recipe),
            "CreateCustomRecipe": ("createCustomRecipe", self._op_create_recipe),
            "UpdateCustomRecipe": ("updateCustomRecipe", self._op_update_recipe),
            "DeleteCustomRecipe": ("deleteCustomRecipe", self._op_delete_recipe),
            "CreateGrader": ("createGrader", self._op_create_grader),
            "UpdateGrader": ("updateGrader", self._op_update_grader),
            "GetGrader": ("grader", self._op_get_grader),
            "ListGraders": ("graders", self._op_list_graders),
            "DeleteGrader": ("deleteGrader", self._op_delete_grader),
            "LockGrader": ("lockGrader", self._op_lock_grader),
            "ValidateFunctionGrader": ("validateFunctionGrader", self._op_validate_function_grader),
            "AddRemoteEnv": ("addRemoteEnv", self._op_add_remote_env),
            "ListRemoteEnvs": ("remoteEnvs", self._op_list_remote_envs),
            "RemoveRemoteEnv": ("removeRemoteEnv", self._op_remove_remote_env),
            "TestRemoteEnv": ("testRemoteEnv", self._op_test_remote_env),
            "Me": ("me", self._op_me),
            "ListUsers": ("users", self._op_list_users),
            "CreateUser": ("createUser", self._op_create_user),
            "DeleteUser": ("deleteUser", self._op_delete_user),
            "UpdateUser": ("setTeamMember", self._op_set_team_member),
            "RemoveTeamMember": ("removeTeamMember", self._op_remove_team_member),
            "ListTeams": ("teams", self._op_list_teams),
            "CreateTeam": ("createTeam", self._op_create_team),
            "ListRoles": ("roles", self._op_list_roles),
            "CreateRole": ("createRole", self._op_create_role),
            "ListPermissions": ("permissions", self._op_list_permissions),
        }

    def _clear_admin_state(self) -> None:
        now = _ms(self.clock.now())
        self.compute_pools: dict[str, dict[str, Any]] = {}
        for key, name, capabilities, inference in (("default", "Default pool", ["INFERENCE", "JOB"], 2),
                                                   ("training", "Training pool", ["JOB"], 0)):
            group = {"id": self._uuid(), "key": f"{key}-hg-0", "status": "ONLINE", "worldSize": 8,
                     "url": f"http://harmony-{key}-0.emulator.local:50051", "gpuTypes": "H100", "createdAt": now,
                     "inference": inference}
            self.compute_pools[key] = {"id": self._uuid(), "key": key, "name": name, "createdAt": now,
                                       "capabilities": capabilities, "groups": [group]}
        self.recipes: dict[str, dict[str, Any]] = {}
        self.graders: dict[str, dict[str, Any]] = {}
        self.remote_envs: dict[str, dict[str, Any]] = {}
        self.reachable_reward_servers: dict[str, dict[str, str]] = {}
        self.model_credentials: dict[str, str] = {}  # model key -> fingerprint of its provider API key
        self._clear_users_state(now)

    # -- test helpers ----------------------------------------------------------------------------------
    def add_reachable_reward_server(self, url: str, name: str = "reward-server", version: str = "1.0.0",
                                    description: str = "") -> None:
        """Make the reward server at ``url`` reachable from the emulated deployment (``TestRemoteEnv`` online)."""
        with self.lock:  # type: ignore[attr-defined]
            self.reachable_reward_servers[url] = {"name": name, "version": version, "description": description}

    # -- credentials: never echoed, never logged ---------------------------------------------------------
    def log_request(self, method: str, raw_path: str, query_string: str, raw_headers: list[tuple[bytes, bytes]],
                    body: bytes) -> None:
        if raw_path.endswith("/api/graphql") and body.startswith(b"{"):
            body = redact_graphql_body(body)
        super().log_request(method, raw_path, query_string, raw_headers, body)  # type: ignore[misc]

    # -- models ----------------------------------------------------------------------------------------
    def _op_add_hf_model(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "AddHFModelInput", "AddHFModel")
        repo = data["modelId"]
        if repo.count("/") != 1 or not all(re.fullmatch(r"[\w.-]+", part) for part in repo.split("/")):
            raise self._error(f"Invalid Hugging Face model id {repo!r}: expected 'org/name'")
        if not data["hfToken"].strip():
            raise self._error("hfToken must not be empty")
        key = data.get("outputModelKey") or _slug(data["outputModelName"])
        pending = any(j.get("import") and j["args"]["output_model_key"] == key and j["status"] in ("PENDING", "RUNNING")
                      for j in self.jobs.values())
        if key in self.models or pending:
            raise self._error(f"Model with key {key!r} already exists")
        if data.get("computePool") and data["computePool"] not in self.compute_pools:
            raise self._not_found("compute pool", data["computePool"])
        n = next(self._seq)
        now = self.clock.now()
        job = {"id": self._uuid(), "name": f"import-{key}", "status": "PENDING", "created": now, "started": None,
               "ended": None, "progress": 0.0, "error": None, "project": None, "recipe": "import-hf-model",
               "args": {"model_id": repo, "output_model_key": key, "output_model_name": data["outputModelName"]},
               "models": [], "numGpus": data.get("numGpus"), "computePool": data.get("computePool"), "n": n,
               "evaluation": False, "artifacts": [], "cancel_at": None, "import": True}
        self.jobs[job["id"]] = job
        self._advance_job(job, now)
        return self._job_json(job)

    def _op_add_external_model(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "AddExternalModelInput", "AddExternalModel")
        field = {"OPEN_AI": "openAI", "LEGACY_OPEN_AI": "legacyOpenAI", "GOOGLE": "google",
                 "ANTHROPIC": "anthropic"}[data["provider"]]
        provider_data = data.get("providerData") or {}
        given = [k for k, val in provider_data.items() if val is not None]
        if given != [field]:
            raise self._error(f"providerData must hold exactly {field!r} for provider {data['provider']}, got {given}")
        credentials = provider_data[field]
        if not credentials["apiKey"].strip():
            raise self._error("apiKey must not be empty")
        endpoint = credentials.get("endpoint")
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise self._error(f"Invalid endpoint {endpoint!r}: expected an http(s) URL")
        key = _slug(data["name"])
        if not key:
            raise self._error("Model name must not be empty")
        if key in self.models:
            raise self._error(f"Model with key {key!r} already exists")
        model = self._add_model(key, data["name"], external=data["provider"], online="ONLINE")
        model["externalModelId"] = credentials["externalModelId"]
        self.model_credentials[key] = _fingerprint(credentials["apiKey"])
        return self._model_json(model)

    def _op_update_compute_config(self, v: dict[str, Any]) -> Any:
        ref = self._arg(v, "idOrKey", "IdOrKey", "UpdateModelComputeConfig")
        config = self._arg(v, "input", "ModelComputeConfigInput", "UpdateModelComputeConfig")
        model = self._model(ref)
        if model["isExternal"] or model["computeConfig"] is None:
            raise self._error(f"Model {model['key']!r} is external: it has no compute config")
        for name, value in config.items():
            if value is not None and value < 1:
                raise self._error(f"{name} must be positive, got {value}")
        model["computeConfig"].update({k: val for k, val in config.items() if val is not None})
        return self._model_json(model)

    def _op_terminate_model(self, v: dict[str, Any]) -> Any:
        ref = self._arg(v, "idOrKey", "IdOrKey", "TerminateModel")
        force = v.get("force")
        if not isinstance(force, bool):
            raise self._error('TerminateModel: argument "force" of type "Boolean!" is required but not provided')
        model = self._model(ref)
        attached = [p["key"] for p in self.projects.values() if model["key"] in p["services"]]
        if len(attached) > 1 and not force:
            raise self._error(f"Model {model['key']!r} is attached to {len(attached)} projects ({', '.join(attached)})"
                              ": terminate it with force=true")
        model["online"] = "OFFLINE"
        for key in attached:
            self.projects[key]["services"][model["key"]]["desiredOnline"] = False
        return f"Model {model['key']} terminated"

    # -- compute pools ---------------------------------------------------------------------------------
    def _group_json(self, pool: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        online = [self._model_json(m) for m in self.models.values() if m["online"] == "ONLINE"
                  and not m["isExternal"]] if "INFERENCE" in pool["capabilities"] and group["inference"] else []
        allocations = ([{"name": "inference", "numGpus": group["inference"], "ranks": list(range(group["inference"])),
                         "createdAt": group["createdAt"]}] if group["inference"] else [])
        return {"id": group["id"], "key": group["key"], "computePool": {"key": pool["key"], "name": pool["name"]},
                "status": group["status"], "url": group["url"], "worldSize": group["worldSize"],
                "gpuTypes": group["gpuTypes"], "createdAt": group["createdAt"], "onlineModels": online,
                "gpuAllocations": allocations}

    def _op_list_compute_pools(self, v: dict[str, Any]) -> Any:
        return [{"id": p["id"], "key": p["key"], "name": p["name"], "createdAt": p["createdAt"],
                 "capabilities": list(p["capabilities"]),
                 "harmonyGroups": [self._group_json(p, g) for g in p["groups"]]} for p in self.compute_pools.values()]

    def _op_list_harmony_groups(self, v: dict[str, Any]) -> Any:
        return [self._group_json(p, g) for p in self.compute_pools.values() for g in p["groups"]]

    def _op_resize_inference(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "ResizePartitionInput", "ResizeInferencePartition")
        pool = self._find(self.compute_pools, data["computePool"])
        if pool is None:
            raise self._not_found("compute pool", data["computePool"])
        if "INFERENCE" not in pool["capabilities"]:
            raise self._error(f"Compute pool {pool['key']!r} has no INFERENCE capability")
        for group in pool["groups"]:
            if not 0 <= data["size"] <= group["worldSize"]:
                raise self._error(f"Inference partition size {data['size']} is out of range 0..{group['worldSize']} "
                                  f"of harmony group {group['key']!r}")
        for group in pool["groups"]:
            group["inference"] = data["size"]
        return f"Resized inference partition of {len(pool['groups'])} harmony group(s) to {data['size']} GPU(s)"

    # -- recipes ---------------------------------------------------------------------------------------
    def _recipe_json(self, r: dict[str, Any]) -> dict[str, Any]:
        return {k: r[k] for k in ("id", "key", "name", "content", "contentHash", "description", "createdAt",
                                  "updatedAt")} | {
            "editable": True, "global": False, "builtin": False, "labels": [dict(label) for label in r["labels"]],
            "inputSchema": {"type": "object", "properties": {}}, "jsonSchema": {"type": "object", "properties": {}},
            "createdBy": {"id": self.user["id"], "name": self.user["name"], "email": self.user["email"]}}

    def _recipe_code(self, file: bytes, entrypoint: str | None, config_entrypoint: str | None) -> str | None:
        """The recipe's text (a single Python file), or None for a zipped directory; bad code is an error."""
        if file.startswith(b"PK"):
            try:
                names = set(zipfile.ZipFile(io.BytesIO(file)).namelist())
            except zipfile.BadZipFile as exc:
                raise self._error(f"Recipe archive is not a valid zip: {exc}") from None
            for label, name in (("entrypoint", entrypoint or "main.py"), ("configEntrypoint", config_entrypoint)):
                if name and name not in names:
                    raise self._error(f"Recipe archive has no {name} ({label})")
            return None
        if entrypoint or config_entrypoint:
            raise self._error("entrypoint and configEntrypoint apply to a zipped recipe directory only")
        try:
            text = file.decode()
            compile(text, "recipe.py", "exec")
        except (UnicodeDecodeError, SyntaxError, ValueError) as exc:
            raise self._error(f"Recipe is not valid Python: {exc}") from None
        return text

    def _op_create_recipe(self, v: dict[str, Any]) -> Any:
        project = self._project(self._arg(v, "project", "IdOrKey", "CreateCustomRecipe"))
        data = self._arg(v, "input", "CreateRecipeInput", "CreateCustomRecipe")
        file = (v.get("__files__") or {}).get("file")
        if file is None:
            raise self._error('CreateCustomRecipe: argument "file" of type "Upload!" is required but not provided')
        key = data.get("key") or _slug(data["name"])
        if not key:
            raise self._error("Recipe key must not be empty")
        if self._find(self.recipes, key, project=project["key"]):
            raise self._error(f"Recipe with key {key!r} already exists in project {project['key']!r}")
        now = _ms(self.clock.now())
        recipe = {"id": self._uuid(), "key": key, "name": data["name"], "description": data.get("description") or "",
                  "labels": list(data.get("labels") or []), "project": project["key"], "createdAt": now,
                  "updatedAt": None, "content": self._recipe_code(file, data.get("entrypoint"),
                                                                  data.get("configEntrypoint")),
                  "contentHash": hashlib.sha256(file).hexdigest(), "file": file}
        self.recipes[recipe["id"]] = recipe
        return self._recipe_json(recipe)

    def _recipe(self, v: dict[str, Any], operation: str, ref_name: str) -> dict[str, Any]:
        project = self._project(self._arg(v, "project", "IdOrKey", operation))
        ref = self._arg(v, ref_name, "IdOrKey", operation)
        recipe = self._find(self.recipes, ref, project=project["key"])
        if recipe is None:
            raise self._not_found("recipe", ref, f" in project {project['key']!r}")
        return recipe

    def _op_update_recipe(self, v: dict[str, Any]) -> Any:
        recipe = self._recipe(v, "UpdateCustomRecipe", "id")
        data = self._arg(v, "input", "UpdateRecipeInput", "UpdateCustomRecipe")
        file = (v.get("__files__") or {}).get("file")
        if file is not None:
            recipe["content"] = self._recipe_code(file, data.get("entrypoint"), data.get("configEntrypoint"))
            recipe["contentHash"], recipe["file"] = hashlib.sha256(file).hexdigest(), file
        for name in ("name", "description", "labels"):
            if data.get(name) is not None:
                recipe[name] = data[name]
        recipe["updatedAt"] = _ms(self.clock.now())
        return self._recipe_json(recipe)

    def _op_get_recipe(self, v: dict[str, Any]) -> Any:
        from dagster_labeling.testing.adaptive import EntityNotFound
        try:
            return self._recipe_json(self._recipe(v, "GetCustomRecipe", "idOrKey"))
        except EntityNotFound:
            return None

    def _op_list_recipes(self, v: dict[str, Any]) -> Any:
        project = self._project(self._arg(v, "project", "IdOrKey", "ListCustomRecipes"))
        flt = v.get("filter")
        if flt is None:
            raise self._error('ListCustomRecipes: argument "filter" of type "CustomRecipeFilterInput!" is required')
        check_input(flt, "CustomRecipeFilterInput", 'argument "filter"')
        out = []
        for r in self.recipes.values():
            labels = {label["key"]: label["value"] for label in r["labels"]}
            if r["project"] == project["key"] and all(
                    f["key"] in labels and (f.get("value") is None or labels[f["key"]] in f["value"])
                    for f in flt.get("labels") or []):
                out.append(self._recipe_json(r))
        return out

    def _op_delete_recipe(self, v: dict[str, Any]) -> Any:
        recipe = self._recipe(v, "DeleteCustomRecipe", "id")
        del self.recipes[recipe["id"]]
        return True

    # -- graders ---------------------------------------------------------------------------------------
    def _grader_config(self, grader_type: str, config: dict[str, Any]) -> dict[str, Any]:
        """The stored (output) configuration of a grader, checked against its type."""
        field = grader_type.lower()
        given = [k for k, val in config.items() if val is not None]
        if given != [field]:
            raise self._error(f"graderConfig must hold exactly {field!r} for a {grader_type} grader, got {given}")
        c = config[field]
        if field in ("judge", "prebuilt"):
            model = self._model(c["model"])
            if field == "judge":
                if not c["criteria"].strip():
                    raise self._error("A judge grader needs criteria")
                return {"__typename": "JudgeConfigOutput", "judgeCriteria": c["criteria"], "model": model["key"],
                        "examples": [{"input": e["input"], "output": e["output"], "pass": e["pass"],
                                      "reasoning": e.get("reasoning")} for e in c["examples"]],
                        "templates": (c["systemTemplate"], c["userTemplate"])}
            name = c["key"].replace("_", " ").capitalize()
            return {"__typename": "PrebuiltConfigOutput", "model": model["key"], "prebuiltCriteria": {
                "key": c["key"], "name": name, "description": f"{name} of the completion, judged by {model['key']}"}}
        if field == "remote":
            parts = urlsplit(c["url"])
            if parts.scheme not in ("http", "https", "ws", "wss", "grpc", "grpcs") or not parts.netloc:
                raise self._error(f"Invalid grader url {c['url']!r}")
            server = self.reachable_reward_servers.get(c["url"], {})
            return {"__typename": "RemoteConfigOutput", "url": c["url"], "version": server.get("version", ""),
                    "description": server.get("description", "")}
        if field == "custom":
            return {"__typename": "CustomConfigOutput", "graderDescription": c.get("description")}
        verdict = self._validate_function(c["sourceCode"])
        if not verdict["valid"]:
            raise self._error("Function grader validation failed: " + "; ".join(
                f"{check['name']}: {check['message']}" for check in verdict["checks"] if not check["passed"]))
        return {"__typename": "FunctionConfigOutput", "sourceCode": c["sourceCode"],
                "functionDescription": c.get("description")}

    def _grader_json(self, g: dict[str, Any]) -> dict[str, Any]:
        config = {k: val for k, val in g["config"].items() if k != "templates"}
        if "model" in config:
            config["model"] = self._model_json(self.models[config["model"]])
        project = self.projects[g["project"]]
        return {"id": g["id"], "name": g["name"], "key": g["key"], "locked": g["locked"],
                "graderType": g["graderType"], "graderConfig": config,
                "project": {"id": project["id"], "key": project["key"], "name": project["name"]},
                "metric": self._metric_json(self.metrics[g["metric"]]), "createdAt": g["createdAt"],
                "updatedAt": g["updatedAt"]}

    def _grader_metric(self, project: dict[str, Any], key: str, metric: dict[str, Any] | None) -> str:
        kind = (metric or {}).get("kind") or "SCALAR"
        metric_key = (metric or {}).get("key") or _slug((metric or {}).get("name") or key)
        existing = self.metrics.get(metric_key)
        if existing is not None and existing["kind"] != kind:
            raise self._error(f"Metric with key {metric_key!r} already exists with kind {existing['kind']}")
        if existing is None:
            existing = {"id": self._uuid(), "key": metric_key, "name": (metric or {}).get("name") or key,
                        "kind": kind, "description": (metric or {}).get("description") or "",
                        "scoringType": (metric or {}).get("scoringType") or "HIGHER_IS_BETTER",
                        "createdAt": _ms(self.clock.now()), "projects": set()}
            self.metrics[metric_key] = existing
        existing["projects"].add(project["key"])
        return metric_key

    def _op_create_grader(self, v: dict[str, Any]) -> Any:
        project = self._project(self._arg(v, "project", "IdOrKey", "CreateGrader"))
        data = self._arg(v, "input", "GraderCreateInput", "CreateGrader")
        key = data.get("key") or _slug(data["name"])
        if not key:
            raise self._error("Grader key must not be empty")
        if self._find(self.graders, key, project=project["key"]):
            raise self._error(f"Grader with key {key!r} already exists in project {project['key']!r}")
        config = self._grader_config(data["graderType"], data["graderConfig"])
        now = _ms(self.clock.now())
        grader = {"id": self._uuid(), "key": key, "name": data["name"], "locked": False, "project": project["key"],
                  "graderType": data["graderType"], "config": config, "createdAt": now, "updatedAt": now,
                  "metric": self._grader_metric(project, key, data.get("metric"))}
        self.graders[grader["id"]] = grader
        return self._grader_json(grader)

    def _grader(self, v: dict[str, Any], operation: str) -> dict[str, Any]:
        project = self._project(self._arg(v, "project", "IdOrKey", operation))
        ref = self._arg(v, "id", "IdOrKey", operation)
        grader = self._find(self.graders, ref, project=project["key"])
        if grader is None:
            raise self._not_found("grader", ref, f" in project {project['key']!r}")
        return grader

    def _op_update_grader(self, v: dict[str, Any]) -> Any:
        grader = self._grader(v, "UpdateGrader")
        data = self._arg(v, "input", "GraderUpdateInput", "UpdateGrader")
        if grader["locked"]:
            raise self._error(f"Grader {grader['key']!r} is locked: unlock it to change it")
        grader_type = data.get("graderType") or grader["graderType"]
        if data.get("graderConfig") is not None or grader_type != grader["graderType"]:
            if data.get("graderConfig") is None:
                raise self._error("Changing graderType needs a graderConfig of the new type")
            grader["config"] = self._grader_config(grader_type, data["graderConfig"])
            grader["graderType"] = grader_type
        if data.get("name"):
            grader["name"] = data["name"]
        grader["updatedAt"] = _ms(self.clock.now())
        return self._grader_json(grader)

    def _op_get_grader(self, v: dict[str, Any]) -> Any:
        return self._grader_json(self._grader(v, "GetGrader"))  # non-null in the schema: a missing one is an error

    def _op_list_graders(self, v: dict[str, Any]) -> Any:
        project = self._project(self._arg(v, "project", "IdOrKey", "ListGraders"))
        return [self._grader_json(g) for g in self.graders.values() if g["project"] == project["key"]]

    def _op_delete_grader(self, v: dict[str, Any]) -> Any:
        grader = self._grader(v, "DeleteGrader")
        if grader["locked"]:
            return {"success": False, "details": f"Grader {grader['key']!r} is locked"}
        del self.graders[grader["id"]]
        return {"success": True, "details": None}

    def _op_lock_grader(self, v: dict[str, Any]) -> Any:
        grader = self._grader(v, "LockGrader")
        locked = v.get("locked")
        if not isinstance(locked, bool):
            raise self._error('LockGrader: argument "locked" of type "Boolean!" is required but not provided')
        grader["locked"] = locked
        return self._grader_json(grader)

    def _validate_function(self, code: str) -> dict[str, Any]:
        checks = []
        try:
            tree = ast.parse(code, "grader.py")
            checks.append({"name": "syntax", "passed": True, "message": "The code parses"})
        except (SyntaxError, ValueError) as exc:
            checks.append({"name": "syntax", "passed": False, "message": f"SyntaxError: {exc}"})
            return {"valid": False, "checks": checks, "warnings": []}
        grade = next((node for node in tree.body if isinstance(node, ast.AsyncFunctionDef)
                      and node.name == "grade"), None)
        ok = grade is not None and len(grade.args.args) == 1
        checks.append({"name": "signature", "passed": ok, "message": "async def grade(thread) found" if ok else
                       "Define one top-level `async def grade(thread) -> float`"})
        return {"valid": all(c["passed"] for c in checks), "checks": checks, "warnings": []}

    def _op_validate_function_grader(self, v: dict[str, Any]) -> Any:
        self._project(self._arg(v, "project", "IdOrKey", "ValidateFunctionGrader"))
        return self._validate_function(self._arg(v, "code", "String", "ValidateFunctionGrader"))

    # -- remote envs (external reward servers) ---------------------------------------------------------
    def _remote_url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss", "grpc", "grpcs") or not parts.netloc:
            raise self._error(f"Invalid remote env url {url!r}: expected an absolute URL")
        return url

    def _op_test_remote_env(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "RemoteEnvCreate", "TestRemoteEnv")
        server = self.reachable_reward_servers.get(self._remote_url(data["url"]))
        if server is None:
            return {"__typename": "RemoteEnvTestOffline", "error": f"Could not connect to {data['url']}: "
                                                                   "connection refused"}
        return {"__typename": "RemoteEnvTestOnline", **server}

    def _op_add_remote_env(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "RemoteEnvCreate", "AddRemoteEnv")
        server = self.reachable_reward_servers.get(self._remote_url(data["url"]))
        if server is None:
            raise self._error(f"Remote env at {data['url']} is not reachable: connection refused")
        key = data.get("key") or _slug(data.get("name") or server["name"])
        if self._find(self.remote_envs, key):
            raise self._error(f"Remote env with key {key!r} already exists")
        env = {"id": self._uuid(), "key": key, "name": data.get("name") or server["name"], "url": data["url"],
               "description": data.get("description") or server["description"], "createdAt": _ms(self.clock.now()),
               "version": server["version"], "status": "ONLINE", "metadataSchema": None}
        self.remote_envs[env["id"]] = env
        return dict(env)

    def _op_list_remote_envs(self, v: dict[str, Any]) -> Any:
        return [dict(env, status="ONLINE" if env["url"] in self.reachable_reward_servers else "OFFLINE")
                for env in self.remote_envs.values()]

    def _op_remove_remote_env(self, v: dict[str, Any]) -> Any:
        ref = self._arg(v, "idOrKey", "IdOrKey", "RemoveRemoteEnv")
        env = self._find(self.remote_envs, ref)
        if env is None:
            raise self._not_found("remote env", ref)
        del self.remote_envs[env["id"]]
        return f"Remote env {env['key']} removed"
