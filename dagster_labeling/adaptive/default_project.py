"""The client's default project: every public method of :class:`~dagster_labeling.adaptive.AdaptiveClient` that
takes a ``project`` takes ``None`` (or, by keyword, no project at all) to mean the client's ``default_project``
(``AdaptiveClient(default_project=...)``, ``AdaptiveResource(project=...)``), as the SDK's
``set_default_project``. Neither set is an :class:`InvalidInput` that says how to set one.

The fallback is applied once to the class (:func:`with_default_project`), so methods that mixins add get it too.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from dagster_labeling._core import InvalidInput

C = TypeVar("C", bound=type)
_WRAPPED = "__adaptive_default_project__"


def resolve_project(client: Any, project: Any, method: str) -> str:
    """``project``, or the client's default project; neither is an :class:`InvalidInput` with the fix."""
    if project is None:
        project = getattr(client, "default_project", None)
        if project is None:
            raise InvalidInput(f"{method}: no project given and the client has no default project. Pass the "
                               "project's key, or set one: AdaptiveClient(..., default_project='my-project') or "
                               "AdaptiveResource(..., project='my-project').", field="project")
    if not isinstance(project, str) or not project.strip():
        raise InvalidInput(f"{method}: project must be a project key, got {project!r}. (With a default project, "
                           f"leave project out by naming the other arguments, or pass None first.)",
                           field="project")
    return project


def _wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    params = list(inspect.signature(fn).parameters.values())
    index = next(i for i, p in enumerate(params) if p.name == "project")
    positional = params[index].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    slot = index - 1  # in ``args``, which lack ``self``

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if positional and slot < len(args):
            args = (*args[:slot], resolve_project(self, args[slot], name), *args[slot + 1:])
        else:
            kwargs["project"] = resolve_project(self, kwargs.get("project"), name)
        return fn(self, *args, **kwargs)

    setattr(wrapper, _WRAPPED, True)
    return wrapper


def with_default_project(cls: C) -> C:
    """Give every public method of ``cls`` (its own and its mixins') with a ``project`` parameter the fallback to
    ``self.default_project``."""
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or getattr(fn, _WRAPPED, False) or \
                isinstance(inspect.getattr_static(cls, name), (staticmethod, classmethod)):
            continue
        if "project" in inspect.signature(fn).parameters:
            setattr(cls, name, _wrap(name, fn))
    return cls


__all__ = ["resolve_project", "with_default_project"]
