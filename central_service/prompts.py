"""Prompts, grammars and scoring that turn the chat LLM into a label classifier."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

CLASSIFY_SYSTEM = (
    "You are a text classifier. Read the text and reply with exactly one label "
    "from the list, written exactly as listed, and nothing else."
)


def validate_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Return the labels as a tuple, or raise ValueError if any is blank or repeated."""
    cleaned = tuple(labels)
    if not cleaned:
        raise ValueError("labels must not be empty")
    if any(not label.strip() for label in cleaned):
        raise ValueError("labels must not be blank")
    if len({label.strip().lower() for label in cleaned}) != len(cleaned):
        raise ValueError(f"labels must be distinct (ignoring case): {list(cleaned)}")
    return cleaned


def classify_messages(text: str, labels: Sequence[str]) -> list[dict[str, str]]:
    """Chat messages asking the model to pick one of `labels` for `text`."""
    listed = ", ".join(labels)
    user = f"Labels: {listed}\nText: {text}\nWhich label fits the text? Answer with one label."
    return [
        {"role": "system", "content": CLASSIFY_SYSTEM},
        {"role": "user", "content": user},
    ]


def _gbnf_literal(value: str) -> str:
    """A GBNF string literal for `value`."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def label_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar whose only sentences are the labels."""
    return "root ::= " + " | ".join(_gbnf_literal(label) for label in labels)


def _normalise(token: str) -> str:
    """Token or label text compared case-insensitively, without surrounding space."""
    return token.strip().lower()


def score_labels(
    first_token_logprobs: Mapping[str, float], labels: Sequence[str]
) -> list[tuple[str, float]]:
    """Spread each first-token probability over the labels it starts; normalise to sum 1.

    A token such as "Pos" or " positive" counts for every label it is a prefix of
    (case-insensitive), split evenly between them. Returns labels sorted by score, highest
    first. If no token starts any label, every label gets the same score.
    """
    mass = dict.fromkeys(labels, 0.0)
    for token, logprob in first_token_logprobs.items():
        key = _normalise(token)
        if not key:
            continue
        matches = [label for label in labels if _normalise(label).startswith(key)]
        for label in matches:
            mass[label] += math.exp(logprob) / len(matches)
    total = sum(mass.values())
    if total <= 0.0:
        uniform = 1.0 / len(labels)
        return [(label, uniform) for label in labels]
    scored = [(label, value / total) for label, value in mass.items()]
    return sorted(scored, key=lambda pair: pair[1], reverse=True)
