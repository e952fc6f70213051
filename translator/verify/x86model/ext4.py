"""FP conversion semantics for BF16 / F16 / widening-narrowing and exponent-mantissa helpers:
``vcvtneps2bf16`` (AVX512-BF16), ...

Bit-exact per the Intel SDM operation sections, each cross-checked against this host's CPU
(``python -m translator conformance`` and ``tests/test_lower_fp_more2.py``).
Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Vec
from . import fp, vector
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


# ---- vcvtph2ps / vcvtps2ph (F16C, AVX512F) -----------------------------------------------------

F16 = fp.Fmt(16, 11, 5, np.float16, np.uint16, np.int16)


def f16_to_f32(h: np.ndarray) -> np.ndarray:
    """Exact widening; NaN: quiet bit set, payload shifted up; denormals converted exactly."""
    h = h.astype(np.uint32)
    s, e, f = h >> 15, (h >> 10) & 0x1F, h & 0x3FF
    normal = (s << 31) | ((e + 112) << 23) | (f << 13)
    sub = (f.astype(np.float32) * np.float32(2.0 ** -24)).view(np.uint32) | (s << 31)
    special = (s << 31) | 0x7F800000 | (f << 13) | np.where(f != 0, 0x400000, 0).astype(np.uint32)
    r = np.where(e == 0, sub, np.where(e == 0x1F, special, normal))
    return r.astype(np.uint32)


def cvtph2ps(mc: Machine) -> None:
    dst, src = mc.insn.ops
    n = dst.bits // 32
    env = vector.fpenv(mc)
    act = mc.kmask(n)
    h = mc.load_vec(src, np.uint16, n, act)
    a = np.ones(n, bool) if act is None else act
    e, f = (h >> 10) & 0x1F, h & 0x3FF
    flags = 0
    if np.any(a & (e == 0x1F) & (f != 0) & ((f & 0x200) == 0)):
        flags |= fp.IE
    # no DE for denormal halves (DAZ does not apply to them either): checked on the CPU
    vector.raise_fp(mc, env, flags)
    mc.writeback(dst, f16_to_f32(h))


def f32_to_f16(x: np.ndarray, env: fp.FpEnv) -> tuple[np.ndarray, int]:
    out = np.zeros(len(x), np.uint16)
    flags = 0
    for i, b in enumerate(int(v) for v in x):
        s = b >> 31
        if fp.is_nan(b, fp.F32):
            if fp.is_snan(b, fp.F32):
                flags |= fp.IE
            out[i] = (s << 15) | 0x7E00 | ((b >> 13) & 0x1FF)
            continue
        if (b & 0x7FFFFFFF) == 0x7F800000:
            out[i] = (s << 15) | 0x7C00
            continue
        if fp.is_denormal(b, fp.F32):       # DAZ applies (and then no DE); FTZ does not
            if env.daz:
                b &= 0x80000000
            else:
                flags |= fp.DE
        if (b & 0x7FFFFFFF) == 0:
            out[i] = s << 15
            continue
        s, m, e = fp.unpack(b, fp.F32)
        r, fl = fp.round_pack(s, m, e, F16, env)
        out[i] = r
        flags |= fl
    return out, flags


def cvtps2ph(mc: Machine) -> None:
    dst, src, imm = mc.insn.ops
    n = src.bits // 32
    env = vector.fpenv(mc)
    rc = env.rc if imm.value & 4 else imm.value & 3
    env = fp.FpEnv(rc, env.daz, False, env.sae)
    act = mc.kmask(n)
    x = mc.load_vec(src, np.uint32, n)
    a = np.ones(n, bool) if act is None else act
    r, fl = f32_to_f16(np.where(a, x, 0), env)
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


HANDLERS["vcvtph2ps"] = cvtph2ps
HANDLERS["vcvtps2ph"] = cvtps2ph


# ---- vgetexpps / vgetexppd ---------------------------------------------------------------------

def getexp(x: np.ndarray, F: fp.Fmt, env: fp.FpEnv, act: np.ndarray) -> tuple[np.ndarray, int]:
    """SDM GetExp: NaN -> QNaN(src); +-0 (and denormals under DAZ) -> -Inf; +-Inf -> +Inf;
    else floor(log2|x|) as a float (denormals normalised). IE for SNaN, DE for a denormal."""
    out = np.zeros(len(x), F.utype)
    flags = 0
    fb = F.p - 1
    for i, b in enumerate(int(v) for v in x):
        if fp.is_nan(b, F):
            if fp.is_snan(b, F) and act[i]:
                flags |= fp.IE
            out[i] = b | F.qbit
            continue
        a = b & F.abs_mask
        if fp.is_denormal(b, F):
            if env.daz:
                a = 0
            elif act[i]:
                flags |= fp.DE
        if a == 0:
            out[i] = F.sign | F.inf
            continue
        if a == F.inf:
            out[i] = F.inf
            continue
        e = (a >> fb) - F.bias if a >> fb else a.bit_length() - 1 - fb + F.emin
        r, _ = fp.x_cvt_i2f(e, F, env)
        out[i] = r
    return out, flags


def getexp_packed(mc: Machine, t: str) -> None:
    dst, src = mc.insn.ops
    F = fp.F32 if t == "s" else fp.F64
    es = F.bits // 8
    n = dst.bits // 8 // es
    env = vector.fpenv(mc)
    act = mc.kmask(n)
    a = np.ones(n, bool) if act is None else act
    x = mc.load_vec(src, F.utype, n, act)
    r, fl = getexp(x, F, env, a)
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


HANDLERS["vgetexpps"] = lambda mc: getexp_packed(mc, "s")
HANDLERS["vgetexppd"] = lambda mc: getexp_packed(mc, "d")
