"""The startup heap is frozen out of full collections, and what comes after is still collected."""

import gc
from collections.abc import Iterator

import pytest

from common.gc_freeze import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the test process's collector as it was."""
    yield
    gc.unfreeze()


def test_freezing_moves_live_objects_out_and_later_cycles_are_still_collected(
    unfrozen: None,
) -> None:
    startup = [[i] for i in range(1000)]  # long-lived, built before traffic
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count() >= 1000
    assert gc.get_count()[0] < 50  # young generation emptied by the collection

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle only the collector can free

    gc.collect()  # whatever garbage the test run left
    for _ in range(100):
        Node()
    assert gc.collect() >= 100  # the new cycles are found: only the startup heap was frozen
    assert len(startup) == 1000
