"""glibc malloc's mmap threshold, fixed so that large blocks go back to the system."""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc's malloc.h)


def map_large_blocks(threshold=1 << 20):
    """Have glibc give every block of `threshold` bytes and up its own mapping, returned
    to the system when freed. Returns whether it took effect (False where the C library
    has no mallopt, or refuses).

    glibc starts at 128 KB and raises the threshold to the size of each mapped block
    that is freed (up to 32 MB); from then on such blocks come from the heap, which
    keeps what is freed and fragments. The benchmark's reference matmul (16 MB
    outputs, between steps) grew its resident memory by 50 MB a step that way; the
    compiler's freed memory stayed resident too. With XLA an update makes a few large
    allocations, so mapping them costs nothing measurable; without it an update makes
    hundreds of 4-15 MB ones, whose page faults cost 30% of the step time, so
    train.py and the benchmark call this with XLA only (docs/performance.md)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc.mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
    except (OSError, AttributeError, TypeError):
        return False
