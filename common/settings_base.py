"""Strict settings models: unknown keys fail, and the error names the nearest valid key."""

import difflib
import os
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A settings section that refuses keys it does not know (typos fail at startup)."""

    model_config = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """A configuration problem, worded for one line on stderr."""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (directly, optional, or as dict/list values)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_container(annotation: Any) -> bool:
    """Whether a field holds dict or list values (its next loc part is a key or index)."""
    origin = get_origin(annotation)
    return origin in (dict, list, Mapping) or any(
        get_origin(a) in (dict, list) for a in get_args(annotation)
    )


def model_at(root: type[BaseModel], path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of `path`, walking nested sections."""
    model: type[BaseModel] | None = root
    parts = list(path)
    while parts and model is not None:
        part = parts.pop(0)
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        if _is_container(field.annotation) and parts:
            parts.pop(0)  # the dict key or list index
        model = _model_in(field.annotation)
    return model


def suggest(name: str, valid: list[str], parent: str = "") -> str:
    """'did you mean X?' for the nearest valid name, or the valid names when none is near."""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if close:
        full = f"{parent}.{close[0]}" if parent else close[0]
        return f"did you mean {full!r}?"
    return f"valid keys: {', '.join(sorted(valid))}"


def dotted(path: tuple[str | int, ...]) -> str:
    """`server.port`, `central.providers[0].url`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def explain(exc: ValidationError, root: type[BaseModel], source: str = "config") -> str:
    """One line per problem; unknown keys name the nearest valid spelling."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden" and loc:
            owner = model_at(root, loc[:-1])
            valid = list(owner.model_fields) if owner is not None else []
            hint = suggest(str(loc[-1]), valid, dotted(loc[:-1])) if valid else ""
            lines.append(f"unknown {source} key {dotted(loc)!r}; {hint}".rstrip("; "))
        else:
            where = dotted(loc) or "(top level)"
            lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def unknown_env_keys(
    root: type[BaseModel],
    prefix: str,
    delimiter: str = "__",
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Env vars under `prefix` that name no setting, each with its nearest valid spelling."""
    environ = os.environ if environ is None else environ
    problems = []
    upper_prefix = prefix.upper()
    for name in sorted(environ):
        if not name.upper().startswith(upper_prefix):
            continue
        parts = name[len(prefix) :].lower().split(delimiter)
        model: type[BaseModel] | None = root
        for depth, part in enumerate(parts):
            if model is None:
                break
            field = model.model_fields.get(part)
            if field is None:
                valid = list(model.model_fields)
                close = difflib.get_close_matches(part, valid, n=1, cutoff=0.6)
                fixed = delimiter.join([*parts[:depth], *close[:1], *parts[depth + 1 :]])
                spelled = (
                    f"did you mean {prefix}{fixed.upper()}?"
                    if close
                    else f"valid keys here: {', '.join(sorted(valid))}"
                )
                problems.append(f"unknown env var {name}; {spelled}")
                break
            if _is_container(field.annotation):
                break  # dict keys (api keys, label sets) are free-form
            model = _model_in(field.annotation)
    return problems
