"""AVX512-BF16 arithmetic: ``vdpbf16ps`` (pairwise bf16 dot product into f32) and
``vcvtne2ps2bf16`` (two f32 vectors to one bf16 vector). ``vcvtneps2bf16`` is in ``ext4.py``.

Bit-exact per the Intel SDM operation sections, each rule pinned down on this host's CPU
(an AMD Zen with ``avx512_bf16``; bochs 2.7 raises #UD, so the CPU is the only oracle):

vdpbf16ps, per f32 lane i (t = src2.dword[i], or dword[0] for ``{1toN}``)::

    dst.f32[i] = fma(dst.f32[i], f32(src1.bf16[2i+1]), f32(t.bf16[1]))     # odd (high) pair first
    dst.f32[i] = fma(dst.f32[i], f32(src1.bf16[2i]),   f32(t.bf16[0]))

Each step is one fused multiply-add (the product is not rounded) with:
- DAZ on all three inputs (a zero exponent field reads as a zero of that sign);
- round to nearest even, whatever MXCSR.RC says; MXCSR is neither read nor written (no status
  flags, no exceptions even when unmasked);
- FTZ on the result with tininess detected *after* rounding: a result whose rounding to 24
  significant bits (unbounded exponent) is below 2^-126 in magnitude becomes a zero of its sign
  (so 2^-126 - 2^-160 gives 2^-126, 2^-126 - 1.5 * 2^-151 gives 0);
- NaNs: the first NaN among (src1 half, src2 half, accumulator), quieted; otherwise an invalid
  operation (inf * 0, inf - inf) gives the x86 default NaN 0xFFC00000. A NaN from the first step
  is the accumulator of the second.

vcvtne2ps2bf16: the low half of the result (words 0..KL/2-1) is src2 converted, the high half
src1 converted, each with ext4's convert_fp32_to_bfloat16 (whole-vector halves, not per lane).
"""
from __future__ import annotations

import numpy as np

from .core import Machine
from .ext4 import f32_to_bf16_ne
from .vector import nelem

HANDLERS: dict = {}

_U64 = np.uint64
DNAN = 0xFFC00000
QUIET = 0x00400000


def _daz(u: np.ndarray) -> np.ndarray:
    return np.where((u & 0x7F800000) == 0, u & 0x80000000, u).astype(np.uint32)


def _isnan(u: np.ndarray) -> np.ndarray:
    return (u & 0x7FFFFFFF) > 0x7F800000


def bf16_fma(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One vdpbf16ps step on f32 bit patterns (uint32): c + a * b with DAZ, one RNE rounding,
    FTZ after rounding, x86 NaN rules (priority a, b, c; default NaN 0xFFC00000).

    a and b are widened bf16 values (16 significant bits at most), so a * b is exact in f64, and
    c + a * b rounded to 53 bits then to 24 bits equals one rounding to 24 bits (double rounding
    is innocuous for a sum of two 24-bit operands when 53 >= 2 * 24 + 1). The 24-bit rounding
    is done on the f64 encoding with an unbounded exponent; it never sees f64 denormals (the
    smallest nonzero |c + a * b| is 2^-252)."""
    c, a, b = (_daz(np.asarray(x, dtype=np.uint32)) for x in (c, a, b))
    with np.errstate(all="ignore"):                          # (signalling NaNs in the casts)
        fc, fa, fb = (x.view(np.float32).astype(np.float64) for x in (c, a, b))
        d = fc + fa * fb
    u = d.view(_U64)
    r = (u + _U64(0x0FFFFFFF) + ((u >> _U64(29)) & _U64(1))) & ~_U64(0x1FFFFFFF)   # RNE to 24 bits
    r = np.where(np.isfinite(d), r, u).view(np.float64)
    sign = ((u >> _U64(32)) & _U64(0x80000000)).astype(np.uint32)
    with np.errstate(all="ignore"):
        out = r.astype(np.float32).view(np.uint32)          # exact, or +-inf past FLT_MAX
    out = np.where(np.abs(r) < 2.0 ** -126, sign, out)      # FTZ, tininess after rounding
    nan = np.isnan(d)
    x86nan = np.full(len(out), DNAN, dtype=np.uint32)
    for src in (c, b, a):                                    # reverse priority: a wins
        x86nan = np.where(_isnan(src), src | QUIET, x86nan)
    return np.where(nan, x86nan, out).astype(np.uint32)


def dpbf16(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """vdpbf16ps on f32 lanes: acc (f32 bits), a and b (bf16 pairs as uint32)."""
    a, b = np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)
    hi = np.uint32(0xFFFF0000)
    t = bf16_fma(acc, a & hi, b & hi)
    return bf16_fma(t, a << np.uint32(16), b << np.uint32(16))


def dpbf16ps(mc: Machine) -> None:
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, 4)
    act = mc.kmask(n)
    acc = mc.vreg(dst, np.uint32, n)
    a = mc.load_vec(s1, np.uint32, n)
    b = mc.load_vec(s2, np.uint32, n, act)
    mc.writeback(dst, dpbf16(acc, a, b))


def cvtne2ps2bf16(mc: Machine) -> None:
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, 2)                        # words in the result
    half = n // 2
    act = mc.kmask(n)
    lo = mc.load_vec(s2, np.uint32, half, None if act is None else act[:half])
    hi = mc.load_vec(s1, np.uint32, half)
    mc.writeback(dst, np.concatenate([f32_to_bf16_ne(lo), f32_to_bf16_ne(hi)]))


HANDLERS["vdpbf16ps"] = dpbf16ps
HANDLERS["vcvtne2ps2bf16"] = cvtne2ps2bf16
