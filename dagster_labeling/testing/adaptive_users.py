"""Users, teams, roles and permissions of the Adaptive ML emulator (``Me``, ``ListUsers``, ``CreateUser``,
``DeleteUser``, ``UpdateUser`` (``setTeamMember``), ``RemoveTeamMember``, ``ListTeams``, ``CreateTeam``, ``ListRoles``,
``CreateRole``, ``ListPermissions``). A service account's generated API key is answered once, kept as a SHA-256
fingerprint, and authenticates requests from then on."""

import re
import uuid
from typing import Any

from dagster_labeling.testing.adaptive_inputs import AdminEmulatorBase, _fingerprint, _ms, _slug
from dagster_labeling.testing.base import Request, parse_auth_key

PERMISSIONS = (
    "project:read", "project:write", "project:admin", "model:read", "model:write", "model:deploy",
    "dataset:read", "dataset:write", "job:read", "job:write", "feedback:read", "feedback:write",
    "grader:read", "grader:write", "recipe:read", "recipe:write", "compute_pool:read", "compute_pool:write",
    "user:read", "user:write", "team:read", "team:write", "role:read", "role:write",
)
_SYSTEM_NAME = re.compile(r"^[a-z0-9_-]+$")


class AdaptiveUsersEmulatorMixin(AdminEmulatorBase):
    """Users, teams, roles and permissions of the Adaptive emulator."""

    def _clear_users_state(self, now: int) -> None:
        self.service_key_fingerprints: set[str] = set()
        self.teams: dict[str, dict[str, Any]] = {"default": dict(self.team)}
        self.roles: dict[str, dict[str, Any]] = {}
        for key, name, permissions in (("admin", "Admin", list(PERMISSIONS)),
                                       ("member", "Member", [p for p in PERMISSIONS if not p.startswith(
                                           ("user:", "team:", "role:")) and not p.endswith(":admin")]),
                                       ("read-only", "Read only", [p for p in PERMISSIONS if p.endswith(":read")])):
            self.roles[key] = {"id": self._uuid(), "key": key, "name": name, "createdAt": now,
                               "permissions": permissions}
        self.users: dict[str, dict[str, Any]] = {self.user["email"]: {
            "id": self.user["id"], "email": self.user["email"], "name": self.user["name"], "createdAt": now,
            "type": "HUMAN", "teams": {"default": "admin"}}}

    def authenticate(self, request: Request) -> None:
        key = parse_auth_key(request.headers.get("authorization"))
        if key is not None and _fingerprint(key) in getattr(self, "service_key_fingerprints", ()):
            return
        super().authenticate(request)  # type: ignore[misc]

    # -- users, teams, roles, permissions --------------------------------------------------------------
    def _user_json(self, u: dict[str, Any]) -> dict[str, Any]:
        return {"id": u["id"], "email": u["email"], "name": u["name"], "createdAt": u["createdAt"],
                "teams": [{"team": dict(self.teams[t]), "role": dict(self.roles[r])} for t, r in u["teams"].items()]}

    def _user(self, ref: Any) -> dict[str, Any]:
        found = self.users.get(ref) or next((u for u in self.users.values() if u["id"] == ref), None)
        if found is None:
            raise self._not_found("user", ref)
        return found

    def _team_role(self, team: str, role: str) -> tuple[str, str]:
        t = self._find(self.teams, team)
        if t is None:
            raise self._not_found("team", team)
        r = self._find(self.roles, role)
        if r is None:
            raise self._not_found("role", role)
        return t["key"], r["key"]

    def _op_me(self, v: dict[str, Any]) -> Any:
        return self._user_json(self.users[self.user["email"]])

    def _op_list_users(self, v: dict[str, Any]) -> Any:
        return [self._user_json(u) for u in self.users.values()]

    def _op_create_user(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "UserCreate", "CreateUser")
        system = data.get("userType") == "SYSTEM"
        if system and not _SYSTEM_NAME.match(data["name"]):
            raise self._error(f"A system user's name takes lowercase letters, digits, '-' and '_', got "
                              f"{data['name']!r}")
        email = data.get("email") or (f"{data['name']}@system.adaptive.local" if system else None)
        if not email:
            raise self._error("A human user needs an email")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise self._error(f"Invalid email {email!r}")
        if email in self.users:
            raise self._error(f"User with email {email!r} already exists")
        memberships = dict(self._team_role(m["team"], m["role"]) for m in data["teams"])
        user = {"id": self._uuid(), "email": email, "name": data["name"], "createdAt": _ms(self.clock.now()),
                "type": "SYSTEM" if system else "HUMAN", "teams": memberships}
        self.users[email] = user
        api_key = None
        if data.get("generateApiKey"):
            api_key = f"sk-adaptive-{uuid.uuid4().hex}"
            self.service_key_fingerprints.add(_fingerprint(api_key))
        return {"user": self._user_json(user), "generatedApiKey": api_key}

    def _op_delete_user(self, v: dict[str, Any]) -> Any:
        user = self._user(self._arg(v, "user", "IdOrKey", "DeleteUser"))
        if user["id"] == self.user["id"]:
            raise self._error("You cannot delete your own user")
        del self.users[user["email"]]
        return self._user_json(user)

    def _op_set_team_member(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "TeamMemberSet", "UpdateUser")
        user = self._user(data["user"])
        team, role = self._team_role(data["team"], data["role"])
        user["teams"][team] = role
        return {"user": self._user_json(user), "team": dict(self.teams[team]), "role": dict(self.roles[role])}

    def _op_remove_team_member(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "TeamMemberRemove", "RemoveTeamMember")
        user = self._user(data["user"])
        team = self._find(self.teams, data["team"])
        if team is None:
            raise self._not_found("team", data["team"])
        if team["key"] not in user["teams"]:
            raise self._error(f"User {user['email']!r} is not a member of team {team['key']!r}")
        del user["teams"][team["key"]]
        return self._user_json(user)

    def _op_list_teams(self, v: dict[str, Any]) -> Any:
        return [dict(t) for t in self.teams.values()]

    def _op_create_team(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "TeamCreate", "CreateTeam")
        key = data.get("key") or _slug(data["name"])
        if not key:
            raise self._error("Team key must not be empty")
        if key in self.teams:
            raise self._error(f"Team with key {key!r} already exists")
        self.teams[key] = {"id": self._uuid(), "key": key, "name": data["name"], "createdAt": _ms(self.clock.now())}
        return dict(self.teams[key])

    def _op_list_roles(self, v: dict[str, Any]) -> Any:
        return [dict(r, permissions=list(r["permissions"])) for r in self.roles.values()]

    def _op_create_role(self, v: dict[str, Any]) -> Any:
        data = self._arg(v, "input", "RoleCreate", "CreateRole")
        key = data.get("key") or _slug(data["name"])
        if not key:
            raise self._error("Role key must not be empty")
        if key in self.roles:
            raise self._error(f"Role with key {key!r} already exists")
        unknown = [p for p in data["permissions"] if p not in PERMISSIONS]
        if unknown or not data["permissions"]:
            raise self._error(f"Unknown permission(s) {unknown}: see ListPermissions" if unknown else
                              "A role needs at least one permission")
        self.roles[key] = {"id": self._uuid(), "key": key, "name": data["name"], "createdAt": _ms(self.clock.now()),
                           "permissions": list(dict.fromkeys(data["permissions"]))}
        return dict(self.roles[key])

    def _op_list_permissions(self, v: dict[str, Any]) -> Any:
        return list(PERMISSIONS)

