"""DataFrame logic of the LLM Engine assets (no Dagster here): training-data checks, CSV, result frames.

>>> import pandas as pd
>>> validate_training_frame(pd.DataFrame({"prompt": ["q"], "response": ["a"]}))
['Only 1 training rows: LLM Engine recommends at least 200 to see benefits from fine-tuning.']
"""

import csv
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dagster_labeling._core import BulkResult, InvalidInput
from dagster_labeling.llm_engine.models import CompletionOutput, CompletionResponse, LossPoint

MAX_TRAINING_ROWS = 100_000
RECOMMENDED_TRAINING_ROWS = 200
COMPLETION_COLUMNS = ["key", "prompt", "completion", "num_prompt_tokens", "num_completion_tokens", "error"]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or \
        (isinstance(value, str) and not value.strip()) or value is pd.NA


def validate_training_frame(frame: pd.DataFrame, *, prompt_column: str = "prompt",
                            response_column: str = "response", where: str = "training data") -> list[str]:
    """Raise :class:`InvalidInput` for bad fine-tuning data; return warnings (too few rows)."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}.", field="rows")
    missing = [c for c in (prompt_column, response_column) if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{where}: column(s) {missing} missing; fine-tuning needs a {prompt_column!r} and a {response_column!r} "
            f"column (found {list(frame.columns)[:20]}). Rename them, or set prompt_column/response_column.",
            field=missing[0])
    if frame.empty:
        raise InvalidInput(f"{where}: no rows; fine-tuning needs prompt/response pairs.", field="rows")
    if len(frame) > MAX_TRAINING_ROWS:
        raise InvalidInput(
            f"{where}: {len(frame):,} rows, more than LLM Engine's maximum of {MAX_TRAINING_ROWS:,}. Sample or "
            "split the data.", field="rows")
    for column in (prompt_column, response_column):
        blank = [i for i, v in zip(frame.index, frame[column], strict=True) if _blank(v)]
        if blank:
            raise InvalidInput(
                f"{where}: {len(blank)} empty {column!r} cell(s), e.g. at index {blank[:5]}. Drop or fill them.",
                field=column)
    if len(frame) < RECOMMENDED_TRAINING_ROWS:
        return [f"Only {len(frame)} training rows: LLM Engine recommends at least {RECOMMENDED_TRAINING_ROWS} to see "
                "benefits from fine-tuning."]
    return []


def write_training_csv(frame: pd.DataFrame, *, prompt_column: str = "prompt", response_column: str = "response",
                       directory: str | None = None) -> str:
    """Write the two columns as ``prompt,response`` CSV to a temporary file; return its path (caller deletes)."""
    fd, path = tempfile.mkstemp(prefix="llm-engine-training-", suffix=".csv", dir=directory)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["prompt", "response"])
        for prompt, response in zip(frame[prompt_column], frame[response_column], strict=True):
            writer.writerow([str(prompt), str(response)])
    return path


def prompts_from_frame(frame: pd.DataFrame, *, prompt_column: str = "prompt", key_column: str | None = None,
                       where: str = "prompts") -> dict[str, str]:
    """``{key: prompt}`` from a DataFrame; keys from ``key_column`` or the index, which must be unique."""
    if prompt_column not in frame.columns:
        raise InvalidInput(f"{where}: no {prompt_column!r} column (found {list(frame.columns)[:20]}).",
                           field=prompt_column)
    keys = [str(k) for k in (frame[key_column] if key_column else frame.index)]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"{where}: keys ({key_column or 'the index'}) are not unique.", field=key_column or "index")
    prompts = {}
    for key, prompt in zip(keys, frame[prompt_column], strict=True):
        if _blank(prompt):
            raise InvalidInput(f"{where}: empty prompt at key {key!r}.", field=prompt_column)
        prompts[key] = str(prompt)
    return prompts


def completions_frame_from_bulk(prompts: Mapping[str, str], result: BulkResult[CompletionResponse]) -> pd.DataFrame:
    """One row per prompt, in input order; failed rows have ``error`` set and no completion."""
    rows = []
    for key, prompt in prompts.items():
        done = result.succeeded.get(key)
        failure = result.failures.get(key)
        rows.append({
            "key": key, "prompt": prompt,
            "completion": done.output.text if done else None,
            "num_prompt_tokens": done.output.num_prompt_tokens if done else None,
            "num_completion_tokens": done.output.num_completion_tokens if done else None,
            "error": f"{failure.error_type}: {failure.message}" if failure else None,
        })
    return pd.DataFrame(rows, columns=COMPLETION_COLUMNS)


def completions_frame_from_batch(prompts: Mapping[str, str], outputs: Sequence[CompletionOutput]) -> pd.DataFrame:
    """Rows from a batch job's outputs (in prompt order); missing outputs are listed as errors."""
    rows = []
    for i, (key, prompt) in enumerate(prompts.items()):
        out = outputs[i] if i < len(outputs) else None
        rows.append({"key": key, "prompt": prompt, "completion": out.text if out else None,
                     "num_prompt_tokens": out.num_prompt_tokens if out else None,
                     "num_completion_tokens": out.num_completion_tokens if out else None,
                     "error": None if out else "no output for this prompt in the batch results"})
    return pd.DataFrame(rows, columns=COMPLETION_COLUMNS)


def loss_summary(points: Sequence[LossPoint]) -> dict[str, float]:
    """Final and first-epoch losses as plain numbers (absent ones left out)."""
    out: dict[str, float] = {}
    train = [p for p in points if p.train_loss is not None]
    evals = [p for p in points if p.eval_loss is not None]
    if train:
        out["final_train_loss"] = float(train[-1].train_loss)  # type: ignore[arg-type]
    if evals:
        out["final_eval_loss"] = float(evals[-1].eval_loss)  # type: ignore[arg-type]
        out["first_eval_loss"] = float(evals[0].eval_loss)  # type: ignore[arg-type]
    return out
