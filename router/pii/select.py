"""Detection results: `PiiMatch`, and choosing non-overlapping matches among candidates."""

from __future__ import annotations

import operator
from bisect import bisect_left
from typing import NamedTuple, TypeAlias

Candidate: TypeAlias = tuple[int, int, int, str, float]  # start, -end, rank, kind, confidence


class PiiMatch(NamedTuple):
    """One detected PII value: its kind, the [start, end) span and a confidence in (0, 1]."""

    kind: str
    start: int
    end: int
    confidence: float = 1.0


def select(items: list[Candidate]) -> list[PiiMatch]:
    """Non-overlapping matches by position: within each cluster of overlapping candidates,
    the longest wins, then the lower rank (more specific kind), then the earlier start."""
    items.sort()
    starts = [item[0] for item in items]
    ends = [-item[1] for item in items]
    if all(map(operator.ge, starts[1:], ends)):  # the usual case: nothing overlaps
        return [PiiMatch(kind, s, -e, c) for s, e, _, kind, c in items]
    chosen: list[PiiMatch] = []
    i, n = 0, len(items)
    while i < n:
        start, neg_end, _, kind, confidence = items[i]
        j, reach = i + 1, -neg_end
        while j < n and items[j][0] < reach:
            reach = max(reach, -items[j][1])
            j += 1
        if j == i + 1:
            chosen.append(PiiMatch(kind, start, -neg_end, confidence))
        else:
            chosen.extend(resolve(items[i:j]))
        i = j
    return chosen


def resolve(cluster: list[Candidate]) -> list[PiiMatch]:
    """Greedy choice inside one overlapping cluster, returned by position."""
    starts: list[int] = []
    kept: list[PiiMatch] = []
    for start, neg_end, _, kind, confidence in sorted(cluster, key=lambda c: (c[1] + c[0], c[2])):
        end = -neg_end
        i = bisect_left(starts, start)
        if (i > 0 and kept[i - 1].end > start) or (i < len(kept) and kept[i].start < end):
            continue
        starts.insert(i, start)
        kept.insert(i, PiiMatch(kind, start, end, confidence))
    return kept
