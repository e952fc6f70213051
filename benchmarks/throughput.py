"""Translation throughput (x86 instructions/s over a corpus, ``--allow-unsupported``) and
iced-x86's raw decode rate over the same reached instructions, in the same process.

Both are timed in process CPU time (``time.process_time``): the rates do not move with other load
on a shared machine, and the ratio compares like with like."""
from __future__ import annotations

import gc
import importlib
import time
from typing import Callable, Optional

import iced_x86


def _translate_module():
    # `translator.translate` the attribute is the function; the module is in sys.modules
    return importlib.import_module("translator.translate")


def clear_caches() -> None:
    """Forget everything the translator memoises, so that a pass measures a cold start."""
    tr = _translate_module()
    from translator.decode import clear_cache
    clear_cache()
    try:
        from translator import encode
        if hasattr(encode, "clear_cache"):
            encode.clear_cache()
        else:
            encode._CACHE.clear()
    except Exception:       # the encoder's cache is an implementation detail
        pass
    cc = getattr(tr, "clear_caches", None)
    if cc is not None:
        cc()
    fe = getattr(tr, "_flag_effects", None)
    if fe is not None and hasattr(fe, "cache_clear"):
        fe.cache_clear()
    lc = getattr(tr, "LOWER_CACHE", None)
    if lc is not None:
        lc.clear()


def set_lower_cache(on: bool) -> Optional[bool]:
    """Switch the lowering cache (translate.LOWER_CACHE) on/off; returns the old setting or None
    when this version has no cache."""
    lc = getattr(_translate_module(), "LOWER_CACHE", None)
    if lc is None:
        return None
    old = lc.enabled
    lc.enabled = on
    return old


def translate_corpus(files: list[tuple[str, bytes]], nan_mode: str = "exact",
                     each: Optional[Callable] = None, peephole: bool = True) -> dict:
    """Translate every kernel; time only ``translate``. ``each(name, translation)`` runs untimed.
    ``peephole=False``: without the passes across instruction boundaries (lower/peephole.py)."""
    from translator.translate import TranslateError, translate
    seconds = 0.0
    n = 0
    errors = {}
    programs = []
    t_all = time.process_time()
    for name, code in files:
        t0 = time.process_time()
        try:
            t = translate(code, allow_unsupported=True, nan_mode=nan_mode, peephole=peephole)
        except TranslateError as ex:
            seconds += time.process_time() - t0
            errors[name] = str(ex)
            continue
        seconds += time.process_time() - t0
        n += len(t.program.insns)
        programs.append((t.program.code, t.program.base, list(t.program.insns)))
        if each is not None:
            t1 = time.process_time()
            each(name, t)
            t_all += time.process_time() - t1
    gc.collect()        # translate() pauses the cyclic GC; what it defers is paid here
    return {"seconds": seconds, "x86_instructions": n, "errors": errors, "programs": programs,
            "loop_seconds": time.process_time() - t_all}


def iced_rate(programs: list, repeat: int = 3) -> dict:
    """iced Decoder over the reached instructions (re-positioned only where a run of
    consecutive instructions breaks), best of ``repeat``."""
    best = None
    n = 0
    for _ in range(repeat):
        n = 0
        t0 = time.process_time()
        for code, base, addrs in programs:
            dec = iced_x86.Decoder(64, code, ip=base)
            ins = iced_x86.Instruction()
            for a in addrs:
                if dec.ip != a:
                    dec.position = a - base
                    dec.ip = a
                dec.decode_out(ins)
                n += 1
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    return {"x86_instructions": n, "seconds": best, "insns_per_s": n / best if best else 0.0}


def run(files: list[tuple[str, bytes]], smoke: bool, each: Optional[Callable] = None) -> dict:
    """Cold pass (caches cleared; ``each`` sees its translations), warm pass (per-instruction and
    per-line caches warm, no whole-kernel hits), repeat pass (whole-kernel cache hits: the same
    kernels translated again), and in the full run a pass with the caches off."""
    out: dict = {"kernels": len(files)}
    if not files:
        out["skipped"] = "corpus not found"
        return out
    clear_caches()
    cold = translate_corpus(files, "exact", each)
    ice = iced_rate(cold["programs"])
    n = cold["x86_instructions"]
    out.update(x86_instructions=n, seconds=cold["seconds"], insns_per_s=n / cold["seconds"],
               iced_insns_per_s=ice["insns_per_s"],
               ratio=(n / cold["seconds"]) / ice["insns_per_s"] if ice["insns_per_s"] else None,
               errors=cold["errors"],
               # the whole loop incl. the deferred GC (a full collection at the end) and the
               # untimed per-kernel bookkeeping: a lower bound of the cold rate
               loop_insns_per_s=n / cold["loop_seconds"] if cold["loop_seconds"] else None)
    kc = getattr(_translate_module(), "KERNEL_CACHE", None)
    if kc is not None:      # warm = per-instruction/per-line caches warm, whole kernels not cached
        kc.clear()
        old = kc.MAX_KERNELS
        kc.MAX_KERNELS = 0
        try:
            warm = translate_corpus(files, "exact")
        finally:
            kc.MAX_KERNELS = old
            kc.clear()
    else:
        warm = translate_corpus(files, "exact")
    out["warm_insns_per_s"] = warm["x86_instructions"] / warm["seconds"]
    out["warm_ratio"] = out["warm_insns_per_s"] / ice["insns_per_s"] if ice["insns_per_s"] else None
    out["repeat_insns_per_s"] = out["repeat_ratio"] = out["repeat_loop_insns_per_s"] = None
    if kc is not None:      # the same kernels again: whole-kernel cache hits (a JIT's repeats)
        translate_corpus(files, "exact")
        reps = [translate_corpus(files, "exact") for _ in range(2 if smoke else 5)]   # GC included
        out["repeat_insns_per_s"] = sum(r["x86_instructions"] for r in reps) / sum(r["seconds"] for r in reps)
        out["repeat_loop_insns_per_s"] = sum(r["x86_instructions"] for r in reps) / sum(r["loop_seconds"] for r in reps)
        out["repeat_ratio"] = out["repeat_insns_per_s"] / ice["insns_per_s"] if ice["insns_per_s"] else None
    out["uncached_insns_per_s"] = None
    if not smoke:
        old = set_lower_cache(False)
        if old is not None:
            clear_caches()
            nc = translate_corpus(files, "exact")
            set_lower_cache(old)
            out["uncached_insns_per_s"] = nc["x86_instructions"] / nc["seconds"]
    clear_caches()
    return out
