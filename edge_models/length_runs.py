"""Split a batch of token sequences into session runs that waste little compute on padding.

A padded run costs about `overhead + tokens`, where tokens = rows x the longest row. MiniLM's
cost is near linear in tokens (~120 us a token int8, ~320 us fp32, on one thread of this box),
and a run's fixed cost is worth only a few tokens, so a batch mixing "ok" with a 60-token
question is cheaper as two runs. Rows are independent (per-token int8), so any split gives the
same vectors.
"""

from collections.abc import Sequence

# One session run's fixed cost, in tokens' worth of compute (measured 1 thread: int8 ~4, fp32 ~7).
RUN_OVERHEAD_TOKENS = 6.0


# Padded tokens in one run, at most: activation memory grows with rows x width (attention with
# its square), and ORT's arena keeps its peak for the process's life (a 64 x 100k-char request
# left RSS +230 MB at 2048, +78 MB at 512). 512 holds 32 short questions, and a run's fixed
# cost (~15 tokens' worth) is ~3% of two 256-token rows.
MAX_RUN_TOKENS = 512


def length_runs(
    lengths: Sequence[int],
    overhead_tokens: float = RUN_OVERHEAD_TOKENS,
    max_tokens: int = MAX_RUN_TOKENS,
) -> list[list[int]]:
    """Indices grouped into runs, shortest first: a row joins a run while its padding is cheap
    and the run stays within `max_tokens` padded tokens (a longer row still runs, alone)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    runs: list[list[int]] = []
    longest = 0
    for index in order:
        # joining pads every row already in the run up to this (longer or equal) row
        if (
            runs
            and len(runs[-1]) * (lengths[index] - longest) <= overhead_tokens
            and (len(runs[-1]) + 1) * lengths[index] <= max_tokens
        ):
            runs[-1].append(index)
        else:
            runs.append([index])
        longest = lengths[index]
    return runs
