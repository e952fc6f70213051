"""More SSE / AVX / AVX-512 vector semantics: integer multiply-add, widening / narrowing moves,
shuffles and permutes, element inserts, horizontal adds, round-to-integral (``vrndscaleps``).

Bit-exact per the Intel SDM operation sections; every family is cross-checked against this host's
CPU in ``tests/test_lower_ext.py`` (``test_model_native``). Registered into ``HANDLERS`` of the
package only where no other module defines the mnemonic.

Permutes read their whole memory operand (no per-element fault suppression is modelled beyond
what ``Machine.load_vec`` does for element-wise operations); the 4 KiB verify window never faults.
"""
from __future__ import annotations

import numpy as np

from ...ir import Gpr, Imm, Mem, Vec
from . import fp, fp_range
from .core import Machine
from .fp import F32
from .vector import U, S, fpenv, legacy_align, nelem, raise_fp, three

HANDLERS: dict = {}


def _add(names, fn, **kw):
    for n in names:
        HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


def _both(stems):
    """Legacy and VEX/EVEX spellings."""
    return [p + s for s in stems for p in ("", "v")]


# ---- integer multiply-add ----------------------------------------------------------------------

def pmaddwd(mc: Machine) -> None:
    """dst.i32[i] = a.i16[2i]*b.i16[2i] + a.i16[2i+1]*b.i16[2i+1] (wraps: only -2^15*-2^15*2)."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 4)
    act = mc.kmask(n)
    a = mc.load_vec(s1, np.uint32, n, act).view(np.int16).astype(np.int64)
    b = mc.load_vec(s2, np.uint32, n, act).view(np.int16).astype(np.int64)
    r = (a[0::2] * b[0::2] + a[1::2] * b[1::2]) & 0xFFFFFFFF
    mc.writeback(dst, r.astype(np.uint32))


def pmaddubsw(mc: Machine) -> None:
    """dst.i16[i] = SaturateToSignedWord(a.u8[2i]*b.s8[2i] + a.u8[2i+1]*b.s8[2i+1])."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 2)
    act = mc.kmask(n)
    a = mc.load_vec(s1, np.uint16, n, act).view(np.uint8).astype(np.int64)
    b = mc.load_vec(s2, np.uint16, n, act).view(np.int8).astype(np.int64)
    r = np.clip(a[0::2] * b[0::2] + a[1::2] * b[1::2], -32768, 32767)
    mc.writeback(dst, r.astype(np.int16).view(np.uint16))


_add(_both(["pmaddwd"]), pmaddwd)
_add(_both(["pmaddubsw"]), pmaddubsw)


# ---- element insert ----------------------------------------------------------------------------

def pinsr(mc: Machine, es: int) -> None:
    """(v)pinsr{b,w,d,q}: src1 with element imm replaced by the low bits of r32/r64/m."""
    ops = mc.insn.ops
    if mc.legacy:
        dst, s1, src, imm = ops[0], ops[0], ops[1], ops[2]
    else:
        dst, s1, src, imm = ops
    base = bytearray(mc.st.zmm[s1.index][:16])
    v = mc.get(src) if isinstance(src, Gpr) else mc.read_int(src, es)
    i = imm.value & (16 // es - 1)
    base[i * es:(i + 1) * es] = (v & ((1 << (8 * es)) - 1)).to_bytes(es, "little")
    mc.write_vreg_bytes(Vec(dst.index, 128), bytes(base), mc.legacy)


for _t, _es in (("b", 1), ("w", 2), ("d", 4), ("q", 8)):
    _add(_both([f"pinsr{_t}"]), pinsr, es=_es)


# ---- widening moves ----------------------------------------------------------------------------
_W = {"b": 1, "w": 2, "d": 4, "q": 8}


def pmov_widen(mc: Machine, sign: bool, s_es: int, d_es: int) -> None:
    """(v)pmov{s,z}x: the low n source elements, sign/zero-extended; masks by destination element."""
    dst, src = mc.insn.ops
    n = nelem(dst, d_es)
    act = mc.kmask(n)
    st = S[s_es] if sign else U[s_es]
    if isinstance(src, Vec):
        a = mc.vreg(src, U[s_es], n).view(st)
    else:
        a = mc.load_vec(src, U[s_es], n, act).view(st)
    r = a.astype(S[d_es] if sign else U[d_es]).view(U[d_es])
    mc.writeback(dst, r)


for _sz in ("s", "z"):
    for _a, _b in (("b", "w"), ("b", "d"), ("b", "q"), ("w", "d"), ("w", "q"), ("d", "q")):
        _add(_both([f"pmov{_sz}x{_a}{_b}"]), pmov_widen, sign=_sz == "s", s_es=_W[_a], d_es=_W[_b])


# ---- narrowing moves (AVX-512 vpmov{,s,us}{qb,qw,qd,db,dw,wb}) ---------------------------------

def pmov_narrow(mc: Machine, sat: str, s_es: int, d_es: int) -> None:
    """Truncate / signed-saturate / unsigned-saturate (source unsigned) each source element.
    Register destination: the n results, bits above zeroed; memory: only active elements stored."""
    dst, src = mc.insn.ops
    n = src.bits // 8 // s_es
    a = mc.vreg(src, U[s_es], n)
    db = 8 * d_es
    if sat == "s":
        v = a.view(S[s_es]).astype(np.int64)
        r = np.clip(v, -(1 << (db - 1)), (1 << (db - 1)) - 1).astype(S[d_es]).view(U[d_es])
    elif sat == "us":
        r = np.minimum(a.astype(np.uint64), (1 << db) - 1).astype(U[d_es])
    else:
        r = a.astype(U[d_es])
    mc.writeback(dst, r)


for _sat in ("", "s", "us"):
    for _a, _b in (("q", "b"), ("q", "w"), ("q", "d"), ("d", "b"), ("d", "w"), ("w", "b")):
        _add([f"vpmov{_sat}{_a}{_b}"], pmov_narrow, sat=_sat, s_es=_W[_a], d_es=_W[_b])


# ---- in-lane shuffles ----------------------------------------------------------------------------

def _ops_imm(mc: Machine):
    """(dst, src1, src2, imm) for 3-operand-plus-imm shuffles (legacy: dst is src1)."""
    ops = mc.insn.ops
    if mc.legacy:
        return ops[0], ops[0], ops[1], ops[2].value & 0xFF
    return ops[0], ops[1], ops[2], ops[3].value & 0xFF


def shufps(mc: Machine) -> None:
    dst, s1, s2, imm = _ops_imm(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 4)
    a = mc.load_vec(s1, np.uint32, n)
    b = mc.load_vec(s2, np.uint32, n)
    out = np.empty(n, dtype=np.uint32)
    for o in range(0, n, 4):
        out[o] = a[o + (imm & 3)]
        out[o + 1] = a[o + (imm >> 2 & 3)]
        out[o + 2] = b[o + (imm >> 4 & 3)]
        out[o + 3] = b[o + (imm >> 6 & 3)]
    mc.writeback(dst, out)


def shufpd(mc: Machine) -> None:
    dst, s1, s2, imm = _ops_imm(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 8)
    a = mc.load_vec(s1, np.uint64, n)
    b = mc.load_vec(s2, np.uint64, n)
    out = np.empty(n, dtype=np.uint64)
    for o in range(0, n, 2):
        out[o] = a[o + (imm >> o & 1)]
        out[o + 1] = b[o + (imm >> (o + 1) & 1)]
    mc.writeback(dst, out)


_add(_both(["shufps"]), shufps)
_add(_both(["shufpd"]), shufpd)


def unpck(mc: Machine, high: bool, es: int) -> None:
    """Interleave the low (or high) halves of each 128-bit lane of src1 and src2."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n)
    m = 16 // es
    out = np.empty(n, dtype=U[es])
    for base in range(0, n, m):
        off = base + (m // 2 if high else 0)
        out[base:base + m:2] = a[off:off + m // 2]
        out[base + 1:base + m:2] = b[off:off + m // 2]
    mc.writeback(dst, out)


for _hl in ("l", "h"):
    _add(_both([f"unpck{_hl}ps"]), unpck, high=_hl == "h", es=4)
    _add(_both([f"unpck{_hl}pd"]), unpck, high=_hl == "h", es=8)
    for _t, _es in (("bw", 1), ("wd", 2), ("dq", 4), ("qdq", 8)):
        _add(_both([f"punpck{_hl}{_t}"]), unpck, high=_hl == "h", es=_es)


def pshufd(mc: Machine) -> None:
    dst, src, imm = mc.insn.ops
    legacy_align(mc, src)
    n = nelem(dst, 4)
    a = mc.load_vec(src, np.uint32, n)
    out = np.empty(n, dtype=np.uint32)
    for o in range(0, n, 4):
        for i in range(4):
            out[o + i] = a[o + (imm.value >> (2 * i) & 3)]
    mc.writeback(dst, out)


_add(_both(["pshufd"]), pshufd)


def pshufb(mc: Machine) -> None:
    """Per 128-bit lane: dst.b[j] = idx.b[j] bit 7 ? 0 : src1.b[lane + (idx.b[j] & 15)]."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 1)
    a = mc.load_vec(s1, np.uint8, n)
    b = mc.load_vec(s2, np.uint8, n)
    j = np.arange(n)
    out = np.where(b & 0x80, 0, a[(j & ~15) + (b & 15)]).astype(np.uint8)
    mc.writeback(dst, out)


_add(_both(["pshufb"]), pshufb)


def phadd(mc: Machine, es: int) -> None:
    """Per 128-bit lane: pairwise sums of src1's elements, then of src2's (wrapping)."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n)
    m = 16 // es
    out = np.empty(n, dtype=U[es])
    for base in range(0, n, m):
        out[base:base + m // 2] = a[base:base + m:2] + a[base + 1:base + m:2]
        out[base + m // 2:base + m] = b[base:base + m:2] + b[base + 1:base + m:2]
    mc.writeback(dst, out)


_add(_both(["phaddw"]), phadd, es=2)
_add(_both(["phaddd"]), phadd, es=4)


# ---- 128-bit lane permutes ---------------------------------------------------------------------

def perm2x128(mc: Machine) -> None:
    """vperm2f128 / vperm2i128 ymm: each 128-bit half picks one of 4 halves, or zero (bit 3/7)."""
    dst, s1, s2, imm = mc.insn.ops
    imm = imm.value
    a = mc.load_vec(s1, np.uint8, 32).tobytes()
    b = mc.load_vec(s2, np.uint8, 32).tobytes()
    lanes = [a[:16], a[16:], b[:16], b[16:]]
    lo = bytes(16) if imm & 0x08 else lanes[imm & 3]
    hi = bytes(16) if imm & 0x80 else lanes[imm >> 4 & 3]
    mc.write_vreg_bytes(dst, lo + hi, False)


_add(["vperm2f128", "vperm2i128"], perm2x128)


def shuf_lanes(mc: Machine, es: int) -> None:
    """vshuf{f,i}{32x4,64x2}: 128-bit lanes: low half of the result from src1, high from src2."""
    dst, s1, s2, imm = mc.insn.ops
    imm = imm.value
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n, act if isinstance(s2, Mem) and s2.bcst else None)
    m = 16 // es
    nl = n // m
    bits = 2 if nl == 4 else 1
    out = np.empty(n, dtype=U[es])
    for lane in range(nl):
        src = a if lane < nl // 2 else b
        sel = imm >> (bits * lane) & ((1 << bits) - 1)
        out[lane * m:(lane + 1) * m] = src[sel * m:(sel + 1) * m]
    mc.writeback(dst, out)


_add(["vshuff32x4", "vshufi32x4"], shuf_lanes, es=4)
_add(["vshuff64x2", "vshufi64x2"], shuf_lanes, es=8)


# ---- full permutes -------------------------------------------------------------------------------

def perm_var(mc: Machine, es: int) -> None:
    """vperm{b,w,d,q,ps,pd} dst, idx, src: dst[i] = src[idx[i] mod n]."""
    dst, idx, src = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    ix = mc.load_vec(idx, U[es], n).astype(np.int64) & (n - 1)
    t = mc.load_vec(src, U[es], n, act if isinstance(src, Mem) and src.bcst else None)
    mc.writeback(dst, t[ix])


def perm_imm(mc: Machine, es: int) -> None:
    """vpermq / vpermpd with imm8: per 256-bit lane, dst[i] = src[imm >> 2i & 3]."""
    dst, src, imm = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    t = mc.load_vec(src, U[es], n, act if isinstance(src, Mem) and src.bcst else None)
    out = np.empty(n, dtype=U[es])
    for o in range(0, n, 4):
        for i in range(4):
            out[o + i] = t[o + (imm.value >> (2 * i) & 3)]
    mc.writeback(dst, out)


def permps(mc: Machine, es: int) -> None:
    if isinstance(mc.insn.ops[-1], Imm):
        perm_imm(mc, es)
    else:
        perm_var(mc, es)


_add(["vpermd", "vpermps"], perm_var, es=4)
_add(["vpermw"], perm_var, es=2)
_add(["vpermq", "vpermpd"], permps, es=8)


def perm2(mc: Machine, es: int, overwrite: str) -> None:
    """vpermt2* (dst is table 1, src1 the indices) / vpermi2* (dst the indices, src1 table 1);
    src2 is table 2. dst[i] = (idx[i] & n ? table2 : table1)[idx[i] mod n]."""
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    if overwrite == "t":
        t1, ix = mc.load_vec(dst, U[es], n), mc.load_vec(s1, U[es], n)
    else:
        ix, t1 = mc.load_vec(dst, U[es], n), mc.load_vec(s1, U[es], n)
    t2 = mc.load_vec(s2, U[es], n, act if isinstance(s2, Mem) and s2.bcst else None)
    ix = ix.astype(np.int64)
    sel = (ix & n) != 0
    k = ix & (n - 1)
    mc.writeback(dst, np.where(sel, t2[k], t1[k]).astype(U[es]))


for _ov in ("t", "i"):
    for _t, _es in (("b", 1), ("w", 2), ("d", 4), ("q", 8), ("ps", 4), ("pd", 8)):
        _add([f"vperm{_ov}2{_t}"], perm2, es=_es, overwrite=_ov)


# ---- round to integral ------------------------------------------------------------------------

_RFN = {0: np.rint, 1: np.floor, 2: np.ceil, 3: np.trunc}


def v_round_int(a: np.ndarray, mode: int, env: fp.FpEnv, suppress_pe: bool,
                active=None) -> tuple[np.ndarray, int]:
    """f32 round to integral in mode (RN RD RU RZ): SNaN -> quieted + IE, QNaN kept, DAZ flushes
    denormal inputs; PE when inexact unless suppressed. No DE (the SDM lists IE, PE only)."""
    F = F32
    a = fp.v_daz(a, F, env)
    nan = fp.v_isnan(a, F)
    with np.errstate(all="ignore"):
        r = _RFN[mode](a.view(np.float32)).astype(np.float32).view(np.uint32)
    r = np.where(nan, a | np.uint32(F.qbit), r).astype(np.uint32)
    act = active if active is not None else np.ones(len(a), dtype=bool)
    flags = 0
    if (fp.v_issnan(a, F) & act).any():
        flags |= fp.IE
    if not suppress_pe and ((r != a) & ~nan & act).any():
        flags |= fp.PE
    return r, flags


def rndscaleps(mc: Machine) -> None:
    """vrndscaleps with imm8[7:4] = 0 (scale 2^0): round to integral; imm8[2] picks MXCSR.RC,
    else imm8[1:0]; imm8[3] suppresses PE. A non-zero scale: fp_range.rndscale_scaled."""
    dst, src, imm = mc.insn.ops
    imm = imm.value & 0xFF
    if imm >> 4:
        return fp_range.rndscale_scaled(mc, F32)          # scale 2**-M (fp_range.py)
    env = fpenv(mc)
    n = nelem(dst, 4)
    act = mc.kmask(n)
    a = mc.load_vec(src, np.uint32, n, act)
    mode = env.rc if imm & 4 else imm & 3
    r, fl = v_round_int(a, mode, env, bool(imm & 8), act)
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


def roundps(mc: Machine) -> None:
    """(v)roundps (SSE4.1/AVX): the same with imm8[3:0] only."""
    dst, src, imm = mc.insn.ops
    legacy_align(mc, src)
    imm = imm.value & 0xF
    env = fpenv(mc)
    n = nelem(dst, 4)
    a = mc.load_vec(src, np.uint32, n)
    mode = env.rc if imm & 4 else imm & 3
    r, fl = v_round_int(a, mode, env, bool(imm & 8))
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


HANDLERS["vrndscaleps"] = rndscaleps
_add(_both(["roundps"]), roundps)
