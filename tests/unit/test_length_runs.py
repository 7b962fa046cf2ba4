"""Splitting a batch into session runs of similar length."""

from edge_models.length_runs import length_runs


def test_equal_lengths_share_one_run() -> None:
    assert length_runs([9] * 32) == [list(range(32))]


def test_a_long_row_runs_apart_from_many_short_ones() -> None:
    lengths = [5, 60, 6, 5, 7, 61]
    runs = length_runs(lengths)
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    assert [lengths[i] for i in runs[0]] == [5, 5, 6, 7]
    assert [lengths[i] for i in runs[-1]] == [60, 61]


def test_padding_is_bounded_by_the_overhead() -> None:
    # a join pads each row already in the run by one token: 1, 2, 3 tokens fit in 3; 4 does not
    assert length_runs([8, 9, 10, 11, 12], overhead_tokens=3) == [[0, 1, 2, 3], [4]]
    assert length_runs([3, 9], overhead_tokens=6) == [[0, 1]]
    assert length_runs([3, 10], overhead_tokens=6) == [[0], [1]]
    assert length_runs([]) == []


def test_runs_stay_within_the_token_budget() -> None:
    runs = length_runs([256] * 20, max_tokens=2048)
    assert [len(run) for run in runs] == [8, 8, 4]
    assert sorted(i for run in runs for i in run) == list(range(20))
    assert length_runs([16] * 32, max_tokens=512) == [list(range(32))]  # short rows: one run
    assert length_runs([300], max_tokens=256) == [[0]]  # over the budget alone: still runs
