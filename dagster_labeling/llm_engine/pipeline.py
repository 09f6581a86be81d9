"""DataFrame logic of the LLM Engine assets (no Dagster here): training-data checks, CSV, result frames.

>>> import pandas as pd
>>> validate_training_frame(pd.DataFrame({"prompt": ["q"], "response": ["a"]}))
['Only 1 training rows: LLM Engine recommends at least 200 to see benefits from fine-tuning.']
"""

import csv
import os
import tempfile
from collections.abc import Mapping, Sequence

import pandas as pd

from dagster_labeling._core import BulkResult
from dagster_labeling._core.rows import InvalidRows, RowProblem, RowSpec, key_text, row_problems
from dagster_labeling.llm_engine.models import CompletionOutput, CompletionResponse, LossPoint

MAX_TRAINING_ROWS = 100_000
RECOMMENDED_TRAINING_ROWS = 200
COMPLETION_COLUMNS = ["key", "prompt", "completion", "num_prompt_tokens", "num_completion_tokens", "error"]
#: The column name under which rows keyed by their index are checked (named so in the errors).
INDEX_KEY = "(index)"


def _blank_text(frame: pd.DataFrame, column: str) -> RowProblem | None:
    """Cells of ``column`` holding only whitespace (missing cells are the row validator's)."""
    rows = tuple(label for label, value in frame[column].items() if isinstance(value, str) and not value.strip())
    return RowProblem(column, rows, "is blank text|Fill it upstream or drop those rows.") if rows else None


def validate_training_frame(frame: pd.DataFrame, *, prompt_column: str = "prompt",
                            response_column: str = "response", where: str = "training data") -> list[str]:
    """Raise :class:`~dagster_labeling.InvalidRows` listing every problem of the fine-tuning data (a column
    absent, a missing or blank prompt or response, a value with no text form, no rows or too many); return
    warnings (too few rows)."""
    columns = (prompt_column, response_column)
    problems = row_problems(frame, RowSpec(required=columns))
    if isinstance(frame, pd.DataFrame) and all(c in frame.columns for c in columns) and \
            not frame.columns.duplicated().any():
        problems += [p for p in (_blank_text(frame, c) for c in columns) if p is not None]
        if frame.empty:
            problems.append(RowProblem(None, (), "no rows|Fine-tuning needs prompt/response pairs."))
        if len(frame) > MAX_TRAINING_ROWS:
            problems.append(RowProblem(None, (), f"{len(frame):,} rows, more than LLM Engine's maximum of "
                                                 f"{MAX_TRAINING_ROWS:,}|Sample or split the data."))
    if problems:
        raise InvalidRows(where, problems)
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
    """``{key: prompt}`` from a DataFrame, keys from ``key_column`` or the index (as text, ``3.0`` → ``"3"``).

    Every row is checked first: a missing or repeated key, a missing or blank prompt, a value with no text form
    raise :class:`~dagster_labeling.InvalidRows` naming them all.
    """
    key = key_column or INDEX_KEY
    if isinstance(frame, pd.DataFrame) and key_column is None:
        frame = frame.assign(**{INDEX_KEY: frame.index.to_numpy()})
    problems = row_problems(frame, RowSpec(key_column=key, required=(prompt_column,)))
    if not problems:
        problems += [p for p in (_blank_text(frame, prompt_column),) if p is not None]
    if problems:
        raise InvalidRows(where, problems)
    return {key_text(k): str(prompt) for k, prompt in zip(frame[key], frame[prompt_column], strict=True)}


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
