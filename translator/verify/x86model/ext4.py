"""FP conversion semantics for BF16 / F16 / widening-narrowing and exponent-mantissa helpers:
``vcvtneps2bf16`` (AVX512-BF16), ...

Bit-exact per the Intel SDM operation sections, each cross-checked against this host's CPU
(``python -m translator conformance`` and ``tests/test_lower_fp_more2.py``).
Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Vec
from .core import Machine

HANDLERS: dict = {}

_SRC_ELEMS = {"XMMM128": 128, "YMMM256": 256, "ZMMM512": 512}


def _src_bits(mc: Machine, src) -> int:
    """Width of the (full) source: its register, else from the iced code name (mem / {1toN})."""
    if isinstance(src, Vec):
        return src.bits
    for tag, bits in _SRC_ELEMS.items():
        if tag in (mc.insn.code or ""):
            return bits
    raise mc.unmodelled("source width")


# ---- vcvtneps2bf16 -----------------------------------------------------------------------------

def f32_to_bf16_ne(x: np.ndarray) -> np.ndarray:
    """SDM convert_fp32_to_bfloat16: zero / denormal -> signed zero, NaN -> upper half with the
    quiet bit set, else round to nearest even on the integer encoding (MXCSR ignored, no flags)."""
    x = x.astype(np.uint64)
    e = x & 0x7F800000
    nan = (x & 0x7FFFFFFF) > 0x7F800000
    rne = (x + 0x7FFF + ((x >> 16) & 1)) >> 16
    r = np.where(e == 0, (x >> 16) & 0x8000, rne)
    r = np.where(nan, (x >> 16) | 0x40, r)
    return (r & 0xFFFF).astype(np.uint16)


def cvtneps2bf16(mc: Machine) -> None:
    dst, src = mc.insn.ops
    n = _src_bits(mc, src) // 32
    act = mc.kmask(n)
    x = mc.load_vec(src, np.uint32, n, act)
    mc.writeback(dst, f32_to_bf16_ne(x))


HANDLERS["vcvtneps2bf16"] = cvtneps2bf16
