"""Label sets for `classify`: zero-shot prototypes (templates, descriptions) and example files.

Zero-shot follows the dataless-classification literature: de-slugged label names
(`card_arrival` → "card arrival") in several templates, an optional description, averaged into one
prototype; optionally adapted to unlabeled in-domain texts by a few rounds of nearest-prototype
self-training (Meng et al., 2020, "Text Classification Using Label Names Only").
"""

import csv
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Annotated

import numpy as np
import yaml
from pydantic import Field

from common.settings_base import STRICT
from edge_models.kernel_head import AnyHead

TEMPLATES = ("A question about {}.", "This text is about {}.", "I have a question about {}.")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\-./:?]+")


def deslug(label: str) -> str:
    """A label id as words: `card_arrival` → "card arrival", `cardArrival` → "card arrival"."""
    words = _SEPARATORS.sub(" ", _CAMEL.sub(" ", label))
    return " ".join(words.split()).lower() or label


@dataclass(frozen=True)
class LabelPrototype:
    """A label, an optional description, and example phrases whose mean embedding stands for it."""

    __pydantic_config__ = STRICT  # a label of `models.label_sets`

    label: Annotated[str, Field(min_length=1)]
    examples: tuple[str, ...] = ()
    description: Annotated[str | None, Field(min_length=1)] = None

    def phrases(self) -> tuple[str, ...]:
        """The de-slugged label in each template, the description, then the examples."""
        name = deslug(self.label)
        described = (self.description,) if self.description else ()
        return (*(t.format(name) for t in TEMPLATES), *described, *self.examples)


@dataclass(frozen=True)
class LabelSet:
    """A configured label set: zero-shot prototypes (maybe self-trained) or a trained head."""

    labels: tuple[LabelPrototype, ...]
    head: AnyHead | None = None
    vectors: np.ndarray | None = None  # fixed unit prototypes (e.g. self-trained), else computed
    cascade_threshold: float | None = None

    @classmethod
    def of_head(cls, head: AnyHead) -> "LabelSet":
        """A label set served by a trained head."""
        return cls(
            tuple(LabelPrototype(x) for x in head.labels), head, None, head.cascade_threshold
        )


class PrototypeCache:
    """Unit prototype vectors per LabelPrototype (label, description, examples), LRU-bounded."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], size: int = 8192) -> None:
        self._embed = embed
        self._size = size
        self._vectors: OrderedDict[LabelPrototype, np.ndarray] = OrderedDict()
        self._lock = Lock()

    def __len__(self) -> int:
        """Prototypes held."""
        return len(self._vectors)

    def vectors(self, labels: Sequence[LabelPrototype]) -> np.ndarray:
        """(len(labels), 384) unit vectors; only labels not seen recently are embedded."""
        with self._lock:
            known = {p: self._vectors[p] for p in labels if p in self._vectors}
            for p in known:
                self._vectors.move_to_end(p)
        missing = [p for p in dict.fromkeys(labels) if p not in known]
        if missing:
            phrases = [p.phrases() for p in missing]
            embedded = self._embed([phrase for group in phrases for phrase in group])
            offset = 0
            for p, group in zip(missing, phrases, strict=True):
                n = len(group)
                mean = embedded[offset : offset + n].mean(axis=0)
                known[p] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                offset += n
            with self._lock:
                self._vectors.update((p, known[p]) for p in missing)
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        return np.stack([known[p] for p in labels])


def self_train(
    prototypes: np.ndarray, unlabeled: np.ndarray, rounds: int = 3, keep: float = 0.0
) -> np.ndarray:
    """Move unit prototypes to the mean of the unlabeled texts nearest them (k-means rounds)."""
    current = prototypes
    for _ in range(rounds):
        nearest = (unlabeled @ current.T).argmax(axis=1)
        moved = []
        for k in range(len(prototypes)):
            members = unlabeled[nearest == k]
            centre = members.mean(axis=0) if len(members) else prototypes[k]
            centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
            moved.append((1 - keep) * centre + keep * prototypes[k])
        stacked = np.stack(moved)
        current = stacked / np.clip(np.linalg.norm(stacked, axis=1, keepdims=True), 1e-12, None)
    return current.astype(np.float32)


def read_examples(path: Path) -> list[tuple[str, str]]:
    """`text,label` rows from a CSV or a YAML list/mapping; ValueError when malformed."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            label_field = "label" if "label" in fields else "category"
            if "text" not in fields or label_field not in fields:
                raise ValueError(f"{path}: the CSV header needs `text` and `label`, got {fields}")
            rows = [(r["text"], r[label_field]) for r in reader]
    elif suffix in (".yaml", ".yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "examples" in data:
            data = data["examples"]
        if isinstance(data, dict):  # {label: [texts]}
            rows = [(t, str(label)) for label, texts in data.items() for t in texts]
        elif isinstance(data, list):  # [{text, label}] or [[text, label]]
            rows = [
                (str(x["text"]), str(x["label"])) if isinstance(x, dict) else (str(x[0]), str(x[1]))
                for x in data
            ]
        else:
            raise ValueError(f"{path}: expected a list of text/label pairs or a label mapping")
    else:
        raise ValueError(f"{path}: label set files are .csv, .yaml or .yml, got {suffix!r}")
    rows = [(t.strip(), label.strip()) for t, label in rows if t.strip() and label.strip()]
    if len({label for _, label in rows}) < 2:
        raise ValueError(f"{path}: need examples of at least two labels")
    return rows


def read_label_names(path: Path) -> tuple[LabelPrototype, ...]:
    """Labels from YAML/JSON (a list, or {label: description}) or a text file, one per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        data = yaml.safe_load(text)
        if isinstance(data, dict) and "labels" in data:
            data = data["labels"]
        if isinstance(data, dict):
            found = [
                LabelPrototype(str(k), description=str(v) if v else None) for k, v in data.items()
            ]
        elif isinstance(data, list):
            found = [LabelPrototype(str(x)) for x in data]
        else:
            raise ValueError(f"{path}: expected a list of labels or a label -> description mapping")
    else:
        found = [LabelPrototype(line.strip()) for line in text.splitlines() if line.strip()]
    labels = tuple(dict((p.label, p) for p in found if p.label.strip()).values())
    if len(labels) < 2:
        raise ValueError(f"{path}: need at least two labels")
    return labels


def read_texts(path: Path) -> list[str]:
    """Unlabeled texts: a CSV's `text` column (other columns ignored) or one text per line."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "text" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: the CSV header needs a `text` column")
            texts = [r["text"].strip() for r in reader]
    else:
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError(f"{path}: no texts")
    return texts
