"""Double-precision and scalar conversion semantics (Intel SDM operation sections):

* packed f32 <-> f64, i32/u32 <-> f64, i64/u64 <-> f64/f32, f32/f64 -> i64/u64, f64 -> i32/u32
  (``vcvtps2pd vcvtpd2ps vcvt[u]dq2pd vcvt[t]pd2[u]dq vcvt[u]qq2pd vcvt[t]pd2[u]qq vcvt[u]qq2ps
  vcvt[t]ps2[u]qq``, ``vcvt[t]ps2udq vcvtudq2ps``), ``vroundpd`` / ``vrndscalepd`` (scale 0);
* scalar ``vcvtss2sd vcvtsd2ss vcvt[u]si2s{s,d} vcvt[t]s{s,d}2[u]si`` and ``v[u]comis{s,d}``.

Integer results out of range (after rounding) or from NaN are the "integer indefinite":
0x80..0 for signed, all ones for unsigned destinations. f64 -> f32 rounds per MXCSR.RC / {er};
NaNs keep sign and the top payload bits, quiet bit set. Flags (IE/DE/PE/...) follow the SDM but
are not compared by verify. Checked against this host's CPU by ``x2sve conformance``.
Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import re

import numpy as np

from ...ir import Gpr, Mem, Vec
from . import fp, fp_range, vector
from .core import CF, OF, PF, SF, ZF, AF, Machine

HANDLERS: dict = {}

F32, F64 = fp.F32, fp.F64
_VL = {"X": 128, "Y": 256, "Z": 512}


def _src_vl(mc: Machine, src) -> int:
    """Vector length of a packed source: its register, else from the iced code name."""
    if isinstance(src, Vec):
        return src.bits
    tags = re.findall(r"([XYZ])MMM\d+", mc.insn.code or "")     # ..._YMMM256B64: ymm or m256
    if not tags:
        raise mc.unmodelled("source width")
    return _VL[tags[-1]]


# ---- element conversions (bit patterns in, bit patterns out) ---------------------------------

def f32_to_f64(x: int, env: fp.FpEnv) -> tuple[int, int]:
    x = fp.daz(x, F32, env)
    s = x >> 31
    if fp.is_nan(x, F32):
        return (s << 63) | 0x7FF8000000000000 | ((x & 0x3FFFFF) << 29), fp.IE if fp.is_snan(x, F32) else 0
    if (x & 0x7FFFFFFF) == 0x7F800000:
        return (s << 63) | F64.inf, 0
    if (x & 0x7FFFFFFF) == 0:
        return s << 63, 0
    fl = fp.DE if fp.is_denormal(x, F32) else 0
    return int(np.array([x], np.uint32).view(np.float32).astype(np.float64).view(np.uint64)[0]), fl


def f64_to_f32(x: int, env: fp.FpEnv) -> tuple[int, int]:
    x = fp.daz(x, F64, env)
    s = x >> 63
    if fp.is_nan(x, F64):
        return (s << 31) | 0x7FC00000 | ((x >> 29) & 0x3FFFFF), fp.IE if fp.is_snan(x, F64) else 0
    if (x & F64.abs_mask) == F64.inf:
        return (s << 31) | F32.inf, 0
    if (x & F64.abs_mask) == 0:
        return s << 31, 0
    fl = fp.DE if fp.is_denormal(x, F64) else 0
    s, m, e = fp.unpack(x, F64)
    r, f = fp.round_pack(s, m, e, F32, env)
    return r, fl | f


def f2i(x: int, F: fp.Fmt, env: fp.FpEnv, ibits: int, truncate: bool, unsigned: bool) -> tuple[int, int]:
    """Float -> (un)signed integer of ibits; NaN / out of range after rounding -> indefinite."""
    if not unsigned:
        return fp.x_cvt_f2i(x, F, env, ibits, truncate)
    x = fp.daz(x, F, env)
    indef = (1 << ibits) - 1
    if (x & F.abs_mask) >= F.inf:
        return indef, fp.IE
    s, m, e = fp.unpack(x, F)
    rc = fp.RZ if truncate else env.rc
    if e >= 0:
        q, inexact = m << e, False
    else:
        sh = -e
        rem = m & ((1 << sh) - 1)
        q = fp._round_int(s, m >> sh, rem, 1 << (sh - 1), rc)
        inexact = rem != 0
    if (s and q) or q >> ibits:
        return indef, fp.IE
    return q, fp.PE if inexact else 0


def i2f(v: int, F: fp.Fmt, env: fp.FpEnv) -> tuple[int, int]:
    return fp.x_cvt_i2f(v, F, env)


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _map(fn, xs, env, act, out_dt):
    out = np.zeros(len(xs), out_dt)
    flags = 0
    for i, x in enumerate(int(v) for v in xs):
        out[i], f = fn(x, env)
        if act is None or act[i]:
            flags |= f
    return out, flags


# ---- packed conversions --------------------------------------------------------------------

# name -> (source element bits, result element bits, element function)
def _cvt_table():
    t = {}
    t["vcvtps2pd"] = (32, 64, f32_to_f64)
    t["vcvtpd2ps"] = (64, 32, f64_to_f32)
    t["vcvtdq2pd"] = (32, 64, lambda x, env: i2f(_signed(x, 32), F64, env))
    t["vcvtudq2pd"] = (32, 64, lambda x, env: i2f(x, F64, env))
    t["vcvtqq2pd"] = (64, 64, lambda x, env: i2f(_signed(x, 64), F64, env))
    t["vcvtuqq2pd"] = (64, 64, lambda x, env: i2f(x, F64, env))
    t["vcvtqq2ps"] = (64, 32, lambda x, env: i2f(_signed(x, 64), F32, env))
    t["vcvtuqq2ps"] = (64, 32, lambda x, env: i2f(x, F32, env))
    t["vcvtudq2ps"] = (32, 32, lambda x, env: i2f(x, F32, env))
    for tr in ("", "t"):
        for u in ("", "u"):
            T, U = tr == "t", u == "u"
            t[f"vcvt{tr}pd2{u}dq"] = (64, 32, lambda x, env, T=T, U=U: f2i(x, F64, env, 32, T, U))
            t[f"vcvt{tr}pd2{u}qq"] = (64, 64, lambda x, env, T=T, U=U: f2i(x, F64, env, 64, T, U))
            t[f"vcvt{tr}ps2{u}qq"] = (32, 64, lambda x, env, T=T, U=U: f2i(x, F32, env, 64, T, U))
        t[f"vcvt{tr}ps2udq"] = (32, 32, lambda x, env, T=tr == "t": f2i(x, F32, env, 32, T, True))
    return t


CVT = _cvt_table()
_U = {32: np.uint32, 64: np.uint64}


def packed_cvt(mc: Machine) -> None:
    m = mc.insn.mnemonic
    sbits, dbits, fn = CVT[m if m.startswith("v") else "v" + m]
    dst, src = mc.insn.ops
    if sbits > dbits:                      # narrowing: as many results as source elements
        n = _src_vl(mc, src) // sbits
    else:                                  # widening / same width: as many as dst elements
        n = dst.bits // dbits
    env = vector.fpenv(mc)
    act = mc.kmask(n)
    if isinstance(src, Mem) and mc.legacy and src.size == 16:    # m64 sources need no alignment
        vector.legacy_align(mc, src)
    x = mc.load_vec(src, _U[sbits], n, act)
    r, fl = _map(fn, x, env, act, _U[dbits])
    if mc.legacy and len(r) * dbits < 128:       # legacy cvtpd2ps/dq: bits 127:64 zeroed, 255:128 kept
        r = np.concatenate([r, np.zeros(128 // dbits - len(r), r.dtype)])
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


for _m in CVT:
    HANDLERS[_m] = packed_cvt
LEGACY = ["cvtps2pd", "cvtdq2pd", "cvtpd2ps", "cvtpd2dq", "cvttpd2dq", "cvtsi2ss", "cvtsi2sd",
          "cvtss2sd", "cvtsd2ss", "cvtss2si", "cvttss2si", "cvtsd2si", "cvttsd2si",
          "comiss", "ucomiss", "comisd", "ucomisd"]     # SSE spellings: same semantics (registered below)


# ---- vroundpd / vrndscalepd ----------------------------------------------------------------

def round_pd(mc: Machine) -> None:
    dst, src, imm = mc.insn.ops
    v = imm.value & 0xFF
    if mc.insn.mnemonic == "vrndscalepd" and v >> 4:
        return fp_range.rndscale_scaled(mc, F64)          # scale 2**-M (fp_range.py)
    n = dst.bits // 64
    env = vector.fpenv(mc)
    rc = env.rc if v & 4 else v & 3
    act = mc.kmask(n)
    x = fp.v_daz(mc.load_vec(src, np.uint64, n, act), F64, env)
    f = x.view(np.float64)
    with np.errstate(all="ignore"):
        r = {fp.RN: np.rint, fp.RD: np.floor, fp.RU: np.ceil, fp.RZ: np.trunc}[rc](f).view(np.uint64)
    nan = fp.v_isnan(x, F64)
    r = np.where(nan, x | np.uint64(F64.qbit), r)
    fl = fp.v_in_flags(F64, env, act, x) & ~fp.DE          # no DE (checked on the CPU)
    if not v & 8 and ((r != x) & ~nan & (True if act is None else act)).any():
        fl |= fp.PE
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


HANDLERS["vroundpd"] = round_pd
HANDLERS["vrndscalepd"] = round_pd


# ---- scalar --------------------------------------------------------------------------------

def _scalar_in(mc: Machine, op, bits: int) -> int:
    """Element 0 of an xmm / m32 / m64 scalar source (masked-off memory is not read)."""
    return int(vector.scalar_src(mc, op, _U[bits])[0])


def cvt_ss_sd(mc: Machine, widen: bool) -> None:
    dst, s1, s2 = vector.three(mc)
    env = vector.fpenv(mc)
    if widen:
        r, fl = f32_to_f64(_scalar_in(mc, s2, 32), env)
    else:
        r, fl = f64_to_f32(_scalar_in(mc, s2, 64), env)
    m = mc.kmask(1)
    if m is None or m[0]:
        vector.raise_fp(mc, env, fl)
    vector.scalar_result(mc, dst, s1, r, np.uint64 if widen else np.uint32)


HANDLERS["vcvtss2sd"] = lambda mc: cvt_ss_sd(mc, True)
HANDLERS["vcvtsd2ss"] = lambda mc: cvt_ss_sd(mc, False)


def cvt_si2f(mc: Machine, F: fp.Fmt, unsigned: bool) -> None:
    dst, s1, s2 = vector.three(mc)
    bits = s2.bits if isinstance(s2, Gpr) else s2.size * 8
    v = mc.value(s2, bits)
    if not unsigned:
        v = _signed(v, bits)
    env = vector.fpenv(mc)
    r, fl = i2f(v, F, env)
    vector.raise_fp(mc, env, fl)
    vector.scalar_result(mc, dst, s1, r, F.utype)


HANDLERS["vcvtsi2ss"] = lambda mc: cvt_si2f(mc, F32, False)
HANDLERS["vcvtsi2sd"] = lambda mc: cvt_si2f(mc, F64, False)
HANDLERS["vcvtusi2ss"] = lambda mc: cvt_si2f(mc, F32, True)
HANDLERS["vcvtusi2sd"] = lambda mc: cvt_si2f(mc, F64, True)


def cvt_f2si(mc: Machine, F: fp.Fmt, truncate: bool, unsigned: bool) -> None:
    dst, src = mc.insn.ops
    env = vector.fpenv(mc)
    x = _scalar_in(mc, src, F.bits)
    r, fl = f2i(x, F, env, dst.bits, truncate, unsigned)
    vector.raise_fp(mc, env, fl)
    mc.set(dst, r)


for _t in ("", "t"):
    for _u in ("", "u"):
        HANDLERS[f"vcvt{_t}ss2{_u}si"] = (lambda T, U: lambda mc: cvt_f2si(mc, F32, T, U))(_t == "t", _u == "u")
        HANDLERS[f"vcvt{_t}sd2{_u}si"] = (lambda T, U: lambda mc: cvt_f2si(mc, F64, T, U))(_t == "t", _u == "u")


def comis(mc: Machine, F: fp.Fmt, signal_qnan: bool) -> None:
    """ZF,PF,CF = 111 unordered, 000 greater, 001 less, 100 equal; OF = SF = AF = 0."""
    a_op, b_op = mc.insn.ops
    env = vector.fpenv(mc)
    a = int(mc.vreg(a_op, F.utype, 1)[0])
    b = _scalar_in(mc, b_op, F.bits)
    a, b = fp.daz(a, F, env), fp.daz(b, F, env)
    fl = 0
    if fp.is_nan(a, F) or fp.is_nan(b, F):
        f = ZF | PF | CF
        if signal_qnan or fp.is_snan(a, F) or fp.is_snan(b, F):
            fl |= fp.IE
    else:
        fa = float(np.array([a], F.utype).view(F.ftype)[0])
        fb = float(np.array([b], F.utype).view(F.ftype)[0])
        f = ZF if fa == fb else (CF if fa < fb else 0)
        if fp.is_denormal(a, F) or fp.is_denormal(b, F):
            fl |= fp.DE
    vector.raise_fp(mc, env, fl)
    allf = CF | PF | AF | ZF | SF | OF
    mc.st.rflags = (mc.st.rflags & ~allf) | f


HANDLERS["vcomiss"] = lambda mc: comis(mc, F32, True)
HANDLERS["vcomisd"] = lambda mc: comis(mc, F64, True)
HANDLERS["vucomiss"] = lambda mc: comis(mc, F32, False)
HANDLERS["vucomisd"] = lambda mc: comis(mc, F64, False)
for _m in LEGACY:
    HANDLERS[_m] = HANDLERS["v" + _m]
