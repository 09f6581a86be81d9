"""What every platform's YAML components share: the resource block, secrets, partitions, the rows an asset
sends, sensors, schedules and the scaffolder that writes a working ``defs.yaml``.

A component's attributes are the options of the platform's Python factories; this module turns the YAML forms
of the shared ones into Dagster objects. Secrets are written ``"{{ env.SCALE_API_KEY }}"`` and become
``dg.EnvVar("SCALE_API_KEY")``: resolved when a run starts, never stored in the definitions or shown in the UI.
"""

import re
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import dagster as dg
import pandas as pd
import pydantic
from dagster.components.resolved.errors import ResolutionException
from pydantic import ConfigDict, Field

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.config import PlatformResource

_ENV_TEMPLATE = re.compile(r"""^\s*\{\{\s*env(?:\.(\w+)|\(\s*['"](\w+)['"]\s*\))\s*\}\}\s*$""")


def yaml_position(context: dg.ResolutionContext) -> str:
    """``defs.yaml:<line> - <path>`` of the value ``context`` is at, without echoing the value."""
    tree = context.source_position_tree
    if tree is None:
        return ".".join(map(str, context.path))
    source = tree.source_error(yaml_path=context.path, inline_error_message="", value_error=True)
    return f"{source.file_name}:{source.start_line_no} - {source.location}"


def env_var_of(context: dg.ResolutionContext, raw: object, field: str) -> dg.EnvVar:
    """``dg.EnvVar(X)`` for a YAML secret written ``{{ env.X }}`` (or ``{{ env('X') }}``); anything else is refused,
    so a key never sits in a YAML file or in the definitions. The error names the line but never shows the value."""
    match = _ENV_TEMPLATE.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise ResolutionException(
            f"{yaml_position(context.at_path(field))}: {field} must name an environment variable, e.g. "
            f"{field}: \"{{{{ env.MY_API_KEY }}}}\"; a literal secret in YAML would be committed with it and shown "
            "in the UI (the value is not repeated here)"
        )
    return dg.EnvVar(match.group(1) or match.group(2))


def _yaml_annotation(annotation: Any) -> Any:
    """The YAML form of a field: numbers and booleans may also be a template string; a nested settings model
    (timeouts, retry) becomes its own YAML model."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return _yaml_model(annotation)
    if annotation in (int, float, bool, int | None, float | None, bool | None):
        return annotation | str
    return annotation


def _yaml_model(model_cls: type[pydantic.BaseModel], *, secret_hint: bool = False) -> type[dg.Model]:
    fields: dict[str, Any] = {}
    for name, info in model_cls.model_fields.items():
        description = info.description or ""
        if secret_hint and not info.repr:
            description += " Write it as \"{{ env.VARIABLE }}\": it is read from the environment when a run starts."
        annotation = _yaml_annotation(info.annotation)
        if info.is_required():
            fields[name] = (annotation, Field(description=description))
        else:
            fields[name] = (annotation | None, Field(default=None, description=description))
    return pydantic.create_model(
        f"{model_cls.__name__}Attributes", __base__=dg.Model, __doc__=model_cls.__doc__, **fields
    )


def resource_model(resource_cls: type[PlatformResource]) -> type[dg.Model]:
    """The YAML schema of a platform resource: its fields with their descriptions; unset ones keep the resource's
    defaults. Secret fields (hidden from reprs) take an ``{{ env.X }}`` template."""
    return _yaml_model(resource_cls, secret_hint=True)


def resource_resolver(resource_cls: type[PlatformResource]) -> dg.Resolver:
    """A resolver building ``resource_cls`` from its YAML block (see :func:`resource_model`)."""

    def resolve(context: dg.ResolutionContext, model: pydantic.BaseModel) -> PlatformResource:
        values: dict[str, Any] = {}
        for name, info in resource_cls.model_fields.items():
            raw = getattr(model, name)
            if raw is None:
                continue
            if not info.repr:
                values[name] = env_var_of(context, raw, name)
            elif isinstance(raw, pydantic.BaseModel):
                values[name] = raw.model_dump(exclude_none=True)
            else:
                values[name] = context.at_path(name).resolve_value(raw)
        try:
            return one_per_configuration(resource_cls(**values))
        except pydantic.ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise ValueError(f"invalid {resource_cls.__name__}: {problems}") from None

    return dg.Resolver(resolve, model_field_type=resource_model(resource_cls), inject_before_resolve=False,
                       description=f"The {resource_cls.__name__} the component's assets and sensors use.")


_RESOURCES: list[PlatformResource] = []


def one_per_configuration(resource: PlatformResource) -> PlatformResource:
    """The same object for every equal resource block: two components of one platform, each with its own
    ``resource`` under the default key, give Dagster one resource (it refuses two different objects under one key
    when it merges the components' definitions)."""
    for known in _RESOURCES:
        if type(known) is type(resource) and known == resource and all(
            type(getattr(known, f)) is type(getattr(resource, f)) for f in type(resource).model_fields
        ):  # an EnvVar is a str and equals a literal of its name: they are different configurations
            return known
    _RESOURCES.append(resource)
    return resource


@contextmanager
def attribute_errors(component: str, prefix: str = "") -> Iterator[None]:
    """Turns a factory's refusal of an option (:class:`InvalidInput`) into an error naming the component and the
    YAML attribute (``prefix`` for a nested block, e.g. ``"promote."``)."""
    try:
        yield
    except InvalidInput as error:
        attribute = f"{prefix}{error.field}" if error.field else prefix.rstrip(".") or "attributes"
        raise dg.DagsterInvalidDefinitionError(f"component {component!r}: {attribute}: {error}") from None


class PartitionsModel(dg.Model):
    """Partitions of the component's assets: ``{type: daily, start_date: "2026-01-01"}``, or ``static`` with
    ``partition_keys``, or ``dynamic`` with ``name`` (keys added by a sensor or the UI)."""

    type: Literal["hourly", "daily", "weekly", "monthly", "static", "dynamic"] = Field(
        description="hourly, daily, weekly or monthly (time windows from start_date), static or dynamic.")
    start_date: str | None = Field(default=None, description="First partition (time-window types), e.g. 2026-01-01.")
    end_date: str | None = Field(default=None, description="End of the time windows (exclusive); open if unset.")
    timezone: str | None = Field(default=None, description="Time zone of the windows, e.g. Europe/Paris; UTC if unset.")
    partition_keys: list[str] | None = Field(default=None, description="The keys of a static partitions definition.")
    name: str | None = Field(default=None, description="The name of a dynamic partitions definition.")


_TIME_WINDOWS: dict[str, Callable[..., dg.PartitionsDefinition]] = {
    "hourly": dg.HourlyPartitionsDefinition, "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition, "monthly": dg.MonthlyPartitionsDefinition,
}


def resolve_partitions(context: dg.ResolutionContext, model: PartitionsModel | None) -> dg.PartitionsDefinition | None:
    """The Dagster partitions definition of a :class:`PartitionsModel`."""
    if model is None:
        return None
    if model.type in _TIME_WINDOWS:
        if not model.start_date:
            raise ValueError(f"{model.type} partitions need start_date, e.g. start_date: \"2026-01-01\"")
        kwargs: dict[str, Any] = {"start_date": model.start_date, "end_date": model.end_date}
        if model.timezone:
            kwargs["timezone"] = model.timezone
        return _TIME_WINDOWS[model.type](**kwargs)
    if model.type == "static":
        if not model.partition_keys:
            raise ValueError("static partitions need partition_keys, e.g. partition_keys: [en, fr]")
        return dg.StaticPartitionsDefinition(model.partition_keys)
    if not model.name:
        raise ValueError("dynamic partitions need a name, e.g. name: batches")
    return dg.DynamicPartitionsDefinition(name=model.name)


PARTITIONS_RESOLVER = dg.Resolver(resolve_partitions, model_field_type=PartitionsModel | None,
                                  inject_before_resolve=False,
                                  description="Partitions of the component's assets (one remote object per partition).")


class RowsModel(dg.Model):
    """Where the rows come from: an upstream asset producing a DataFrame, or a file next to ``defs.yaml``."""

    asset: str | None = Field(default=None, description="Key of an upstream asset that returns a DataFrame, "
                              "e.g. reviews or raw/reviews.")
    file: str | None = Field(default=None, description="A CSV, JSON Lines (.jsonl) or Parquet file, relative to this "
                             "defs.yaml; {partition_key} in the path reads one file per partition. It becomes the "
                             "asset <name>_rows.")


def rows_upstream(rows: RowsModel, *, name: str, folder: Path, partitions_def: dg.PartitionsDefinition | None,
                  group_name: str | None, key_prefix: Sequence[str] | None) -> tuple[Any, list[dg.AssetsDefinition]]:
    """The upstream asset key of ``rows`` and, for a file, the asset that reads it."""
    if (rows.asset is None) == (rows.file is None):
        raise dg.DagsterInvalidDefinitionError(
            f"component {name!r}: rows needs exactly one of asset (an upstream asset key) or file (a path)")
    if rows.asset is not None:
        return dg.AssetKey.from_user_string(rows.asset), []
    file = str(rows.file)
    path_template = file if Path(file).is_absolute() else str(folder / file)
    if "{partition_key}" in path_template and partitions_def is None:
        raise dg.DagsterInvalidDefinitionError(
            f"component {name!r}: rows.file has {{partition_key}} but the component has no partitions")

    @dg.asset(name=f"{name}_rows", key_prefix=key_prefix, partitions_def=partitions_def, group_name=group_name,
              kinds={"pandas", "file"}, description=f"Rows read from {rows.file}.")
    def read_rows(context) -> pd.DataFrame:
        key = context.partition_key if context.has_partition_key else None
        path = Path(path_template.format(partition_key=key) if key is not None else path_template)
        frame = read_frame(path)
        context.add_output_metadata({"path": str(path), "rows": len(frame)})
        return frame

    return read_rows.key, [read_rows]


def read_frame(path: Path) -> pd.DataFrame:
    """A DataFrame from a CSV, JSON Lines or Parquet file (by extension); strings stay strings."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise FileNotFoundError(f"rows file {path} does not exist")
    if suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise ValueError(f"rows file {path}: unknown format {suffix!r}; use .csv, .jsonl or .parquet")


class SensorModel(dg.Model):
    """A sensor the component ships (completion, export, progress…)."""

    name: str | None = Field(default=None, description="Sensor name; defaults to <component name>_<what it watches>.")
    minimum_interval_seconds: int = Field(default=60, description="Seconds between ticks.")
    default_status: Literal["running", "stopped"] = Field(
        default="stopped", description="Whether the sensor starts running when the code location loads.")

    @property
    def status(self) -> dg.DefaultSensorStatus:
        return dg.DefaultSensorStatus.RUNNING if self.default_status == "running" else dg.DefaultSensorStatus.STOPPED


class ScheduleModel(dg.Model):
    """A schedule materializing the component's assets on a cadence.

    Partitioned assets get one run per new partition (``build_schedule_from_partitioned_job``: a daily schedule
    requests yesterday's day once it has ended), at ``hour_of_day``/``minute_of_hour``; unpartitioned ones run on
    ``cron_schedule``."""

    name: str | None = Field(default=None, description="Schedule name; defaults to <component name>_schedule.")
    cron_schedule: str | None = Field(default=None, description="Cron for unpartitioned assets, e.g. '0 6 * * *'.")
    hour_of_day: int | None = Field(default=None, description="Hour a partitioned run starts.")
    minute_of_hour: int | None = Field(default=None, description="Minute a partitioned run starts.")
    execution_timezone: str | None = Field(default=None, description="Time zone of the schedule; UTC if unset.")
    default_status: Literal["running", "stopped"] = Field(
        default="stopped", description="Whether the schedule starts running when the code location loads.")


def build_schedule(model: ScheduleModel, *, component_name: str, assets: Sequence[dg.AssetsDefinition],
                   partitions_def: dg.PartitionsDefinition | None) -> tuple[Any, Any]:
    """The job over ``assets`` and its schedule, as :class:`ScheduleModel` describes."""
    name = model.name or f"{component_name}_schedule"
    status = dg.DefaultScheduleStatus.RUNNING if model.default_status == "running" else dg.DefaultScheduleStatus.STOPPED
    job = dg.define_asset_job(f"{component_name}_job", selection=dg.AssetSelection.assets(*assets))
    if partitions_def is not None:
        if model.cron_schedule:
            raise dg.DagsterInvalidDefinitionError(
                f"schedule {name!r}: partitioned assets are scheduled by their partitions; set hour_of_day and "
                "minute_of_hour instead of cron_schedule")
        schedule = dg.build_schedule_from_partitioned_job(
            job, name=name, hour_of_day=model.hour_of_day, minute_of_hour=model.minute_of_hour,
            execution_timezone=model.execution_timezone, default_status=status,
        )
        return job, schedule
    if not model.cron_schedule:
        raise dg.DagsterInvalidDefinitionError(
            f"schedule {name!r}: unpartitioned assets need cron_schedule, e.g. cron_schedule: '0 6 * * *'")
    return job, dg.ScheduleDefinition(name=name, job=job, cron_schedule=model.cron_schedule,
                                      execution_timezone=model.execution_timezone, default_status=status)


class DefsYamlScaffolder(dg.Scaffolder):
    """Writes the component's ``scaffold_yaml`` (a commented, working ``defs.yaml``) and its sample files."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        component = _component_class(request.type_name)
        if request.scaffold_format != "yaml":
            dg.scaffold_component(request, {})
            return
        request.target_path.mkdir(parents=True, exist_ok=True)
        body = textwrap.dedent(component.scaffold_yaml).strip("\n")
        (request.target_path / "defs.yaml").write_text(f"type: {request.type_name}\n\n{body}\n", encoding="utf-8")
        for name, text in component.scaffold_files.items():
            (request.target_path / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def _component_class(type_name: str) -> "type[ScaffoldedComponent]":
    import importlib

    module, _, attr = type_name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


class ScaffoldedComponent:
    """Mixin for components scaffolded by :class:`DefsYamlScaffolder`."""

    scaffold_yaml: ClassVar[str] = ""
    scaffold_files: ClassVar[dict[str, str]] = {}


class PlatformComponent(dg.Component, dg.Resolvable, dg.Model, ScaffoldedComponent):
    """The attributes every platform component has: where its assets sit in Dagster and when they run."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    partitions: Annotated[dg.PartitionsDefinition | None, PARTITIONS_RESOLVER] = None
    key_prefix: list[str] | None = Field(default=None, description="Key prefix of every asset.")
    group_name: str | None = Field(default=None, description="Asset group in the UI.")
    schedule: ScheduleModel | None = Field(default=None, description="A schedule over the component's assets.")
