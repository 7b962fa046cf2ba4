"""The server pins glibc's mmap threshold so freed big buffers leave RSS."""

import platform

import pytest

from common.malloc_tuning import fix_mmap_threshold

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


def test_the_threshold_is_pinned_on_glibc() -> None:
    assert fix_mmap_threshold() is True
