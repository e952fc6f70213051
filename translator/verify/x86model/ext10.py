"""Permutes, duplicates, 128/256-bit inserts/extracts/broadcasts and the VBMI/VBMI2 byte and
funnel shifts: vpermb, vpermil{ps,pd} (imm8 and variable control), (v)movddup / (v)movshdup /
(v)movsldup, (v)hadd/hsub{ps,pd}, vextract/vinsert/vbroadcast {f,i}{128,32x2,32x4,64x2,32x8,64x4},
vpshld/vpshrd{w,d,q} (imm8), vpshldv/vpshrdv{w,d,q}, vpmultishiftqb and vdbpsadbw.

Bit-exact per the Intel SDM operation sections and checked against this host's CPU
(``python -m translator conformance``, ``tests/test_permute_more.py``). Registered into
``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Imm, Mem, Vec
from . import fp
from .core import Machine
from .ext import perm_var
from .vector import FMT, U, fpenv, legacy_align, nelem, raise_fp, three

HANDLERS: dict = {}


def _add(names, fn, **kw):
    for n in names:
        HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


def _bcst_act(op, act):
    """The write-mask matters for a {1toN} load only (no element active: no access)."""
    return act if isinstance(op, Mem) and op.bcst else None


# ---- vpermb ---------------------------------------------------------------------------------------

_add(["vpermb"], perm_var, es=1)


# ---- vpermilps / vpermilpd -------------------------------------------------------------------------

def permil(mc: Machine, es: int) -> None:
    """In-lane permute. imm8: ps dst.s[i] = src.s[lane(i) + imm >> 2(i%4) & 3],
    pd dst.d[i] = src.d[pair(i) + imm >> (i%8) & 1]. Vector control: ps uses ctrl.s[i] & 3,
    pd bit 1 of ctrl.q[i]."""
    dst, a_op, c_op = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    j = np.arange(n)
    if isinstance(c_op, Imm):
        t = mc.load_vec(a_op, U[es], n, _bcst_act(a_op, act))
        imm = c_op.value & 0xFF
        sel = (imm >> (2 * (j & 3))) & 3 if es == 4 else (imm >> (j & 7)) & 1
    else:
        t = mc.load_vec(a_op, U[es], n)
        c = mc.load_vec(c_op, U[es], n, act).astype(np.int64)
        sel = c & 3 if es == 4 else (c >> 1) & 1
    base = j & ~3 if es == 4 else j & ~1
    mc.writeback(dst, t[base + sel])


_add(["vpermilps"], permil, es=4)
_add(["vpermilpd"], permil, es=8)


# ---- movddup / movshdup / movsldup ------------------------------------------------------------------

def movdup(mc: Machine, kind: str) -> None:
    """ddup: dst.q[i] = src.q[i & ~1] (xmm: the m64 / low qword twice); shdup: dst.s[i] =
    src.s[i | 1]; sldup: dst.s[i] = src.s[i & ~1]."""
    dst, src = mc.insn.ops
    es = 8 if kind == "ddup" else 4
    n = nelem(dst, es)
    if kind != "ddup":
        legacy_align(mc, src)
    if isinstance(src, Mem) and src.size * 8 < dst.bits:      # movddup xmm, m64
        t = np.resize(mc.load_vec(src, U[es], src.size // es), n)
    else:
        t = mc.load_vec(src, U[es], n)
    j = np.arange(n)
    mc.writeback(dst, t[(j | 1) if kind == "shdup" else (j & ~1)])


for _k in ("ddup", "shdup", "sldup"):
    _add([f"mov{_k}", f"vmov{_k}"], movdup, kind=_k)


# ---- haddps / haddpd / hsubps / hsubpd --------------------------------------------------------------

def hop(mc: Machine, op: str, t: str) -> None:
    """Per 128-bit lane: pairs of src1, then pairs of src2: even OP odd element. For NaN priority
    the even element is the first operand, for hadd too (the SDM writes SRC1[63:32] + SRC1[31:0];
    the CPU returns the even element's NaN when both are NaN)."""
    F = FMT[t]
    env = fpenv(mc)
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    es = F.bits // 8
    n = nelem(dst, es)
    a = mc.load_vec(s1, F.utype, n)
    b = mc.load_vec(s2, F.utype, n)
    m = 16 // es
    h = m // 2
    ev = np.empty(n, dtype=F.utype)
    od = np.empty(n, dtype=F.utype)
    for base in range(0, n, m):
        ev[base:base + h], od[base:base + h] = a[base:base + m:2], a[base + 1:base + m:2]
        ev[base + h:base + m], od[base + h:base + m] = b[base:base + m:2], b[base + 1:base + m:2]
    r, fl = fp.fp_binary(op, ev, od, F, env, None)
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


for _op in ("add", "sub"):
    for _t in ("s", "d"):
        _add([f"h{_op}p{_t}", f"vh{_op}p{_t}"], hop, op=_op, t=_t)


# ---- 128/256-bit extracts, inserts, broadcasts -------------------------------------------------------

def extract(mc: Machine, es: int, chunk: int) -> None:
    """dst = chunk (imm mod number of chunks) of src; xmm/ymm register or memory destination."""
    dst, src, imm = mc.insn.ops
    k = chunk // es
    j = imm.value & (src.bits // 8 // chunk - 1)
    out = mc.vreg(src, U[es], src.bits // 8 // es)[j * k:(j + 1) * k].copy()
    mc.writeback(dst, out)


def insert(mc: Machine, es: int, chunk: int) -> None:
    """dst = src1 with chunk (imm mod number of chunks) replaced by src2 (xmm/ymm or m128/m256)."""
    dst, s1, s2, imm = mc.insn.ops
    n = nelem(dst, es)
    k = chunk // es
    j = imm.value & (dst.bits // 8 // chunk - 1)
    out = mc.vreg(s1, U[es], n).copy()
    out[j * k:(j + 1) * k] = mc.load_vec(s2, U[es], k)
    mc.writeback(dst, out)


def bcast_chunk(mc: Machine, es: int, chunk: int) -> None:
    """dst = the low `chunk` bytes of src (xmm or memory) repeated."""
    dst, src = mc.insn.ops
    k = chunk // es
    if isinstance(src, Vec):
        v = mc.vreg(src, U[es], k)
    else:
        v = np.frombuffer(mc.read(mc.ea(src), chunk), dtype=U[es])
    mc.writeback(dst, np.tile(v, nelem(dst, es) // k))


_add(["vextractf128", "vextracti128"], extract, es=8, chunk=16)
_add(["vinsertf128", "vinserti128"], insert, es=8, chunk=16)
for _fi in ("f", "i"):
    for _sfx, _es, _ch in (("32x4", 4, 16), ("64x2", 8, 16), ("32x8", 4, 32), ("64x4", 8, 32)):
        _add([f"vextract{_fi}{_sfx}"], extract, es=_es, chunk=_ch)
        _add([f"vinsert{_fi}{_sfx}"], insert, es=_es, chunk=_ch)
        _add([f"vbroadcast{_fi}{_sfx}"], bcast_chunk, es=_es, chunk=_ch)
    _add([f"vbroadcast{_fi}32x2"], bcast_chunk, es=4, chunk=8)
    _add([f"vbroadcast{_fi}128"], bcast_chunk, es=8, chunk=16)


# ---- VBMI2 funnel shifts -----------------------------------------------------------------------------

def _funnel(hi, lo, c, w: int, right: bool) -> np.ndarray:
    """Per element: (hi:lo) << c, upper half (left), or (hi:lo) >> c, lower half (right)."""
    mask = (1 << w) - 1
    out = []
    for h, l, s in zip(hi.tolist(), lo.tolist(), c.tolist()):
        cat = (int(h) << w) | int(l)
        out.append(((cat >> s) if right else (cat << s) >> w) & mask)
    return np.array(out, dtype=U[w // 8])


def shld_imm(mc: Machine, es: int, right: bool) -> None:
    """vpshld: dst = upper half of (src1:src2) << c; vpshrd: dst = lower half of (src2:src1) >> c;
    c = imm8 mod width."""
    dst, s1, s2, imm = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n, act)
    c = np.full(n, imm.value & (8 * es - 1))
    r = _funnel(b, a, c, 8 * es, True) if right else _funnel(a, b, c, 8 * es, False)
    mc.writeback(dst, r)


def shld_var(mc: Machine, es: int, right: bool) -> None:
    """vpshldv: dst = upper half of (dst:src1) << c; vpshrdv: dst = lower half of (src1:dst) >> c;
    c = src2 element mod width."""
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    d = mc.vreg(dst, U[es], n)
    a = mc.load_vec(s1, U[es], n)
    c = mc.load_vec(s2, U[es], n, act).astype(np.uint64) & np.uint64(8 * es - 1)
    r = _funnel(a, d, c, 8 * es, True) if right else _funnel(d, a, c, 8 * es, False)
    mc.writeback(dst, r)


for _t, _es in (("w", 2), ("d", 4), ("q", 8)):
    _add([f"vpshld{_t}"], shld_imm, es=_es, right=False)
    _add([f"vpshrd{_t}"], shld_imm, es=_es, right=True)
    _add([f"vpshldv{_t}"], shld_var, es=_es, right=False)
    _add([f"vpshrdv{_t}"], shld_var, es=_es, right=True)


# ---- vpmultishiftqb, vdbpsadbw -------------------------------------------------------------------------

def multishift(mc: Machine) -> None:
    """dst.b[8i+j] = bits c..c+7 (mod 64) of src2.q[i], c = src1.b[8i+j] & 63."""
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, 8)
    act = mc.kmask(8 * n)
    ctrl = mc.load_vec(s1, np.uint8, 8 * n)
    qa = None if act is None else act.reshape(n, 8).any(axis=1)
    data = mc.load_vec(s2, np.uint64, n, _bcst_act(s2, qa))
    out = np.empty(8 * n, dtype=np.uint8)
    for i, q in enumerate(data.tolist()):
        q = int(q)
        for j in range(8):
            c = int(ctrl[8 * i + j]) & 63
            out[8 * i + j] = ((q >> c) | (q << (64 - c))) & 0xFF
    mc.writeback(dst, out)


def dbpsadbw(mc: Machine) -> None:
    """Per 128-bit lane TMP = src2 dwords shuffled by imm8 (pshufd); per qword of src1 / TMP,
    four word SADs: w0 = SAD(s1[0:4], T[0:4]), w1 = SAD(s1[0:4], T[1:5]),
    w2 = SAD(s1[4:8], T[2:6]), w3 = SAD(s1[4:8], T[3:7])."""
    dst, s1, s2, imm = mc.insn.ops
    nb = dst.bits // 8
    a = mc.load_vec(s1, np.uint8, nb).astype(np.int64)
    b = mc.load_vec(s2, np.uint32, nb // 4)
    j = np.arange(nb // 4)
    tmp = b[(j & ~3) + ((imm.value >> (2 * (j & 3))) & 3)].view(np.uint8).astype(np.int64)
    out = np.empty(nb // 2, dtype=np.uint16)
    for o in range(0, nb, 8):
        for w, (so, to) in enumerate(((0, 0), (0, 1), (4, 2), (4, 3))):
            out[o // 2 + w] = np.abs(a[o + so:o + so + 4] - tmp[o + to:o + to + 4]).sum()
    mc.writeback(dst, out)


HANDLERS["vpmultishiftqb"] = multishift
HANDLERS["vdbpsadbw"] = dbpsadbw


# ---- extractps / insertps --------------------------------------------------------------------------------

def extractps(mc: Machine) -> None:
    """r32 (zero-extended) / m32 = src.s[imm & 3]."""
    dst, src, imm = mc.insn.ops
    mc.store(dst, int(mc.vreg(src, np.uint32, 4)[imm.value & 3]), 32)


def insertps(mc: Machine) -> None:
    """dst = src1 with element imm[5:4] = src2.s[imm[7:6]] (m32: the loaded dword), then the
    elements of zmask imm[3:0] zeroed; legacy keeps bits 128+, VEX/EVEX zero them."""
    ops = mc.insn.ops
    dst, s1, s2, imm = (ops[0], ops[0], ops[1], ops[2]) if mc.legacy else ops
    imm = imm.value & 0xFF
    out = mc.vreg(s1, np.uint32, 4).copy()
    out[(imm >> 4) & 3] = mc.read_int(s2, 4) if isinstance(s2, Mem) else mc.vreg(s2, np.uint32, 4)[imm >> 6]
    out[[i for i in range(4) if imm >> i & 1]] = 0
    mc.write_vreg_bytes(dst, out.tobytes(), mc.legacy)


_add(["extractps", "vextractps"], extractps)
_add(["insertps", "vinsertps"], insertps)
