"""Keep freed big buffers from pinning RSS: a fixed glibc mmap threshold for the server process.

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after
which large buffers (a 10 MB request body, ORT's scratch for a long document) come from the heap
and stay in RSS once freed. Setting the threshold explicitly turns that adjustment off, so every
block over 128 KiB is mapped on its own and returned to the OS when freed. No-op off glibc.
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin glibc's mmap threshold; True when it took effect (False on musl, macOS, ...)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    log.debug("glibc mmap threshold pinned at %d bytes: %s", threshold, ok)
    return ok
