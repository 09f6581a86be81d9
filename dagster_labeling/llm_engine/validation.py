"""Checks made before anything is sent: model names, completion parameters (as the SDK's pydantic models check
them, and finite), the models LLM Engine fine-tunes."""

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dagster_labeling._core import InvalidInput

#: Base models LLM Engine fine-tunes (Model Zoo); pass ``allow_unknown_model=True`` for others.
FINE_TUNABLE_MODELS = frozenset(
    "llama-7b llama-2-7b llama-2-7b-chat llama-2-13b llama-2-13b-chat llama-2-70b llama-2-70b-chat "
    "llama-3-8b llama-3-8b-instruct llama-3-70b llama-3-1-8b llama-3-1-8b-instruct llama-3-1-70b "
    "mpt-7b mpt-7b-instruct falcon-7b falcon-7b-instruct mistral-7b mistral-7b-instruct mixtral-8x7b "
    "mixtral-8x7b-instruct codellama-7b codellama-13b codellama-34b".split()
)
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,199}$")


def validate_model_name(name: Any, field: str = "model") -> str:
    """A model or endpoint name that is safe as one URL path segment; else :class:`InvalidInput`.

    >>> validate_model_name("llama-2-7b.my-suffix.240101-000000")
    'llama-2-7b.my-suffix.240101-000000'
    """
    if not isinstance(name, str) or not MODEL_NAME_RE.match(name) or ".." in name:
        raise InvalidInput(
            f"{field} {name!r} is not a valid LLM Engine model name: use letters, digits and . _ - : @ + only "
            "(no '/', '?', '#', '%', spaces), at most 200 characters, e.g. 'llama-2-7b'.",
            field=field,
        )
    return name


def _check_range(field: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, got {value!r}.", field=field)
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise InvalidInput(f"{field} must be in {bracket}{low}, {high}], got {value}.", field=field)


def completion_body(
    prompt: str,
    *,
    max_new_tokens: int = 20,
    temperature: float = 0.2,
    stop_sequences: Sequence[str] | None = None,
    return_token_log_probs: bool | None = False,
    presence_penalty: float | None = None,
    frequency_penalty: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    include_stop_str_in_output: bool | None = None,
    guided_json: Mapping[str, Any] | None = None,
    guided_regex: str | None = None,
    guided_choice: Sequence[str] | None = None,
    guided_grammar: str | None = None,
    skip_special_tokens: bool | None = True,
) -> dict[str, Any]:
    """The JSON body of a completion, validated as the SDK's pydantic models do (and a little more).

    >>> completion_body("Hi", temperature=1.5)
    Traceback (most recent call last):
    ...
    dagster_labeling._core.errors.InvalidInput: temperature must be in [0, 1], got 1.5.
    """
    if not isinstance(prompt, str) or not prompt:
        raise InvalidInput(f"prompt must be a non-empty string, got {prompt!r}.", field="prompt")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InvalidInput(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}.",
                           field="max_new_tokens")
    _check_range("temperature", temperature, 0, 1)
    _check_range("top_p", top_p, 0, 1, low_open=True)
    _check_range("presence_penalty", presence_penalty, 0, 2)
    _check_range("frequency_penalty", frequency_penalty, 0, 2)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < -1):
        raise InvalidInput(f"top_k must be an integer >= -1 (-1: all tokens), got {top_k!r}.", field="top_k")
    stops: list[str] | None = None
    if stop_sequences is not None:
        if isinstance(stop_sequences, str):
            raise InvalidInput(
                f"stop_sequences must be a list of strings, got the string {stop_sequences!r}: "
                f"write stop_sequences=[{stop_sequences!r}].", field="stop_sequences")
        stops = list(stop_sequences)
        if not all(isinstance(s, str) and s for s in stops):
            raise InvalidInput(f"stop_sequences must be non-empty strings, got {stops!r}.", field="stop_sequences")
    for name, flag in (("return_token_log_probs", return_token_log_probs),
                       ("include_stop_str_in_output", include_stop_str_in_output),
                       ("skip_special_tokens", skip_special_tokens)):
        if flag is not None and not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be True, False or None, got {flag!r}.", field=name)
    guided = [g for g in (guided_json, guided_regex, guided_choice, guided_grammar) if g is not None]
    if len(guided) > 1:
        raise InvalidInput("Give at most one of guided_json, guided_regex, guided_choice, guided_grammar.",
                           field="guided_json")
    return {
        "prompt": prompt,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "stop_sequences": stops,
        "return_token_log_probs": return_token_log_probs,
        "presence_penalty": presence_penalty,
        "frequency_penalty": frequency_penalty,
        "top_k": top_k,
        "top_p": top_p,
        "include_stop_str_in_output": include_stop_str_in_output,
        "guided_json": dict(guided_json) if guided_json is not None else None,
        "guided_regex": guided_regex,
        "guided_choice": list(guided_choice) if guided_choice is not None else None,
        "guided_grammar": guided_grammar,
        "skip_special_tokens": skip_special_tokens,
    }
