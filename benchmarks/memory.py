"""Peak memory of translating a whole corpus: tracemalloc peak (Python allocations, caches cleared
first) and the process's maximum resident set size."""
from __future__ import annotations

import resource
import sys
import tracemalloc


def maxrss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def run(files) -> dict:
    from .throughput import clear_caches, translate_corpus
    if not files:
        return {"skipped": "corpus not found", "tracemalloc_peak_mib": None, "maxrss_mib": maxrss_mib()}
    clear_caches()
    tracemalloc.start()
    try:
        translate_corpus(files, "exact")
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    clear_caches()
    return {"kernels": len(files), "tracemalloc_peak_mib": peak / 2 ** 20, "retained_mib": cur / 2 ** 20,
            "maxrss_mib": maxrss_mib()}
