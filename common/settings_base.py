"""Strict settings sections: unknown keys fail, and the error names the nearest valid key.

A section is a pydantic model or a dataclass (the runtime config types are used as sections
directly, with `STRICT` as their pydantic config); the helpers here walk either kind.
"""

import dataclasses
import difflib
import os
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError

STRICT = ConfigDict(extra="forbid")  # `__pydantic_config__` of a dataclass used as a section
UNKNOWN_KEY_ERRORS = ("extra_forbidden", "unexpected_keyword_argument")  # model, dataclass


class StrictModel(BaseModel):
    """A settings section that refuses keys it does not know (typos fail at startup)."""

    model_config = STRICT


class ConfigError(ValueError):
    """A configuration problem, worded for one line on stderr."""


def is_section(annotation: Any) -> bool:
    """Whether a type is a settings section (a pydantic model or a dataclass)."""
    return isinstance(annotation, type) and (
        issubclass(annotation, BaseModel) or dataclasses.is_dataclass(annotation)
    )


def fields_of(section: type) -> dict[str, Any]:
    """Key → type of a section's fields."""
    if issubclass(section, BaseModel):
        return {name: f.annotation for name, f in section.model_fields.items()}
    hints = get_type_hints(section)
    return {f.name: hints[f.name] for f in dataclasses.fields(section) if f.init}


def _members(annotation: Any) -> list[Any]:
    """The types a union holds (None left out), or the annotation itself."""
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def sections_in(annotation: Any) -> list[type]:
    """Every section an annotation holds: itself, optional, in a union or as container values."""
    if is_section(annotation):
        return [annotation]
    return [s for arg in get_args(annotation) for s in sections_in(arg)]


def _step(annotation: Any, part: str | int) -> tuple[Any, bool]:
    """Where one part of a validation loc leads, and whether the part is a key a user wrote."""
    members = _members(annotation)
    if len(members) > 1:  # pydantic names the union member it tried: `LabelSetFile`, `tuple[…]`
        for member in members:
            if getattr(get_origin(member) or member, "__name__", None) == str(part).split("[")[0]:
                return member, False
        return None, True
    annotation = members[0]
    if is_section(annotation):
        return fields_of(annotation).get(str(part)), True
    args = get_args(annotation)
    if get_origin(annotation) in (dict, Mapping):
        return (args[-1] if args else None), True
    return (args[0] if args else None), True  # a list or tuple index


def section_at(root: type, loc: tuple[str | int, ...]) -> tuple[type | None, tuple[str | int, ...]]:
    """The section that owns the key after `loc`, and `loc` as the user wrote it."""
    annotation: Any = root
    written: list[str | int] = []
    for index, part in enumerate(loc):
        annotation, user_key = _step(annotation, part)
        if user_key:
            written.append(part)
        if annotation is None:
            return None, (*written, *loc[index + 1 :])
    members = _members(annotation)
    section = members[0] if len(members) == 1 and is_section(members[0]) else None
    return section, tuple(written)


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


def explain(exc: ValidationError, root: type, source: str = "config") -> str:
    """One line per problem; unknown keys name the nearest valid spelling."""
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] in UNKNOWN_KEY_ERRORS and loc:
            owner, where = section_at(root, loc[:-1])
            valid = list(fields_of(owner)) if owner is not None else []
            hint = suggest(str(loc[-1]), valid, dotted(where)) if valid else ""
            key = dotted((*where, loc[-1]))
            lines.append(f"unknown {source} key {key!r}; {hint}".rstrip("; "))
        else:
            lines.append(f"{dotted(section_at(root, loc)[1]) or '(top level)'}: {error['msg']}")
    return "; ".join(lines)


def unknown_env_keys(
    root: type,
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
        section: type | None = root
        for depth, part in enumerate(parts):
            if section is None:
                break
            fields = fields_of(section)
            if part not in fields:
                valid = list(fields)
                close = difflib.get_close_matches(part, valid, n=1, cutoff=0.6)
                fixed = delimiter.join([*parts[:depth], *close[:1], *parts[depth + 1 :]])
                spelled = (
                    f"did you mean {prefix}{fixed.upper()}?"
                    if close
                    else f"valid keys here: {', '.join(sorted(valid))}"
                )
                problems.append(f"unknown env var {name}; {spelled}")
                break
            members = _members(fields[part])  # dict keys (api keys, label sets) are free-form
            section = members[0] if len(members) == 1 and is_section(members[0]) else None
    return problems
