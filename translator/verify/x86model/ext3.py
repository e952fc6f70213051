"""Integer extensions for int8 kernels: AVX512-VNNI dot products (vpdpbusd/s, vpdpwssd/s),
vpternlogd/q, AVX-512 integer compares into opmasks (vpcmp{,u}{b,w,d,q} imm, and the EVEX
vpcmpeq*/vpcmpgt* forms), packed absolute values (pabs*), high-half and widening multiplies
(pmulhw, pmulhuw, pmuldq, pmuludq), psadbw and the AVX-512 rotates (vprol/vpror, imm and vector).

Bit-exact per the Intel SDM operation sections; every family is cross-checked against this host's
CPU (``tests/test_lower_int_more.py::test_model_native`` and ``python -m translator conformance``).
Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic;
``chain_evex_compares`` adds the EVEX (opmask destination) forms of vpcmpeq*/vpcmpgt* in front of
the vector-destination handlers of ``ext2``.
"""
from __future__ import annotations

import numpy as np

from ...ir import Imm, KReg
from .core import Machine, bits_to_int
from .vector import S, U, legacy_align, nelem, three

HANDLERS: dict = {}


def _add(names, fn, **kw):
    for n in names:
        HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


def _both(stems):
    return [p + s for s in stems for p in ("", "v")]


_ES = {"b": 1, "w": 2, "d": 4, "q": 8}
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


# ---- VNNI ----------------------------------------------------------------------------------------

def vnni(mc: Machine, kind: str, sat: bool) -> None:
    """vpdpbusd[s]: dst.i32[i] += sum_j u8(src1.b[4i+j]) * s8(src2.b[4i+j]), j < 4.
    vpdpwssd[s]: dst.i32[i] += sum_j s16(src1.w[2i+j]) * s16(src2.w[2i+j]), j < 2.
    The sum is exact; `s` saturates dst + sum to i32, else it wraps."""
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, 4)
    act = mc.kmask(n)
    acc = mc.vreg(dst, np.int32, n).astype(np.int64)
    a = mc.load_vec(s1, np.uint32, n)
    b = mc.load_vec(s2, np.uint32, n, act)
    if kind == "bus":
        x = a.view(np.uint8).astype(np.int64).reshape(n, 4)
        y = b.view(np.int8).astype(np.int64).reshape(n, 4)
    else:
        x = a.view(np.int16).astype(np.int64).reshape(n, 2)
        y = b.view(np.int16).astype(np.int64).reshape(n, 2)
    r = acc + (x * y).sum(axis=1)
    if sat:
        r = np.clip(r, I32_MIN, I32_MAX)
    mc.writeback(dst, (r & 0xFFFFFFFF).astype(np.uint32))


_add(["vpdpbusd"], vnni, kind="bus", sat=False)
_add(["vpdpbusds"], vnni, kind="bus", sat=True)
_add(["vpdpwssd"], vnni, kind="wss", sat=False)
_add(["vpdpwssds"], vnni, kind="wss", sat=True)


# ---- vpternlog -----------------------------------------------------------------------------------

def ternlog_bits(imm: int, a, b, c):
    """Bitwise: result bit = imm8[(a << 2) | (b << 1) | c] (a = dst, b = src2, c = src3)."""
    r = np.zeros_like(a)
    for idx in range(8):
        if (imm >> idx) & 1:
            r |= ((a if idx & 4 else ~a) & (b if idx & 2 else ~b) & (c if idx & 1 else ~c))
    return r


def ternlog(mc: Machine, es: int) -> None:
    dst, s2, s3, imm = mc.insn.ops
    dt = U[es]
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.vreg(dst, dt, n).copy()
    b = mc.load_vec(s2, dt, n)
    c = mc.load_vec(s3, dt, n, act)
    mc.writeback(dst, ternlog_bits(imm.value & 0xFF, a, b, c).astype(dt))


_add(["vpternlogd"], ternlog, es=4)
_add(["vpternlogq"], ternlog, es=8)


# ---- integer compares into opmasks ---------------------------------------------------------------

def _cmp(pred: int, x, y):
    return [x == y, x < y, x <= y, np.zeros(len(x), bool), x != y, x >= y, x > y,
            np.ones(len(x), bool)][pred & 7]


def cmp_k(mc: Machine, t: str, signed: bool, pred: int | None = None) -> None:
    """k = (src1 PRED src2) per element ANDed with the write-mask; bits above the count zeroed.
    PRED = imm8[2:0] (vpcmp*) or fixed (vpcmpeq* = 0, vpcmpgt* = 6)."""
    es = _ES[t]
    ops = mc.insn.ops
    dst, s1, s2 = ops[0], ops[1], ops[2]
    if pred is None:
        pred = ops[3].value
    n = nelem(s1, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n, act)
    if signed:
        a, b = a.view(S[es]), b.view(S[es])
    r = np.asarray(_cmp(pred, a, b), bool)
    if act is not None:
        r = r & act
    mc.kset(dst, bits_to_int(r))


for _t in "bwdq":
    _add([f"vpcmp{_t}"], cmp_k, t=_t, signed=True)
    _add([f"vpcmpu{_t}"], cmp_k, t=_t, signed=False)


def chain_evex_compares(handlers: dict) -> None:
    """vpcmpeq*/vpcmpgt* with an opmask destination go to ``cmp_k``; the others to the handler
    that was registered before (vector destinations)."""
    for t in "bwdq":
        for stem, pred in (("vpcmpeq", 0), ("vpcmpgt", 6)):
            name = stem + t
            prev = handlers.get(name)

            def fn(mc, prev=prev, t=t, pred=pred):
                if isinstance(mc.insn.ops[0], KReg):
                    return cmp_k(mc, t, True, pred)
                if prev is None:
                    raise mc.unmodelled("no vector-destination semantics")
                return prev(mc)
            handlers[name] = fn


# ---- pabs ----------------------------------------------------------------------------------------

def pabs(mc: Machine, t: str) -> None:
    """dst = |src| per signed element; the most negative value stays itself."""
    es = _ES[t]
    ops = mc.insn.ops
    dst, src = ops[0], ops[1]
    legacy_align(mc, src)
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(src, U[es], n, act).view(S[es])
    mc.writeback(dst, np.abs(a).view(U[es]))


for _t in "bwd":
    _add(_both([f"pabs{_t}"]), pabs, t=_t)
_add(["vpabsq"], pabs, t="q")


# ---- multiplies ----------------------------------------------------------------------------------

def pmulh(mc: Machine, signed: bool) -> None:
    """dst.w[i] = high 16 bits of src1.w[i] * src2.w[i]."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 2)
    act = mc.kmask(n)
    a = mc.load_vec(s1, np.uint16, n, act)
    b = mc.load_vec(s2, np.uint16, n, act)
    if signed:
        a, b = a.view(np.int16), b.view(np.int16)
    r = (a.astype(np.int64) * b.astype(np.int64)) >> 16
    mc.writeback(dst, (r & 0xFFFF).astype(np.uint16))


_add(_both(["pmulhw"]), pmulh, signed=True)
_add(_both(["pmulhuw"]), pmulh, signed=False)


def pmul_dq(mc: Machine, signed: bool) -> None:
    """dst.q[i] = low dword of src1.q[i] * low dword of src2.q[i] (64-bit product)."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 8)
    act = mc.kmask(n)
    a = mc.load_vec(s1, np.uint64, n, act) & np.uint64(0xFFFFFFFF)
    b = mc.load_vec(s2, np.uint64, n, act) & np.uint64(0xFFFFFFFF)
    if signed:
        a = a.astype(np.uint32).view(np.int32).astype(object)
        b = b.astype(np.uint32).view(np.int32).astype(object)
    else:
        a, b = a.astype(object), b.astype(object)
    r = np.array([int(x) * int(y) & ((1 << 64) - 1) for x, y in zip(a, b)], dtype=np.uint64)
    mc.writeback(dst, r)


_add(_both(["pmuldq"]), pmul_dq, signed=True)
_add(_both(["pmuludq"]), pmul_dq, signed=False)


def psadbw(mc: Machine) -> None:
    """dst.q[i] = sum of |src1.b - src2.b| over the 8 bytes of quadword i (in bits 15:0)."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, 8)
    a = mc.load_vec(s1, np.uint8, 8 * n).astype(np.int64)
    b = mc.load_vec(s2, np.uint8, 8 * n).astype(np.int64)
    r = np.abs(a - b).reshape(n, 8).sum(axis=1).astype(np.uint64)
    mc.writeback(dst, r)


_add(_both(["psadbw"]), psadbw)


# ---- rotates -------------------------------------------------------------------------------------

def prot(mc: Machine, left: bool, t: str) -> None:
    """vprol/vpror by imm8 (vprold dst, src, imm) or by per-element counts (vprolvd dst, src1,
    src2); the count is taken modulo the element width."""
    es = _ES[t]
    w = 8 * es
    dt = U[es]
    ops = mc.insn.ops
    dst, src = ops[0], ops[1]
    n = nelem(dst, es)
    act = mc.kmask(n)
    if isinstance(ops[2], Imm):
        a = mc.load_vec(src, dt, n, act)
        c = np.full(n, ops[2].value % w, dtype=np.uint64)
    else:
        a = mc.load_vec(src, dt, n)
        c = mc.load_vec(ops[2], dt, n, act).astype(np.uint64) % np.uint64(w)
    if not left:
        c = (np.uint64(w) - c) % np.uint64(w)
    a64 = a.astype(object)
    m = (1 << w) - 1
    r = np.array([((int(x) << int(k)) | (int(x) >> (w - int(k)))) & m for x, k in zip(a64, c)],
                 dtype=dt)
    mc.writeback(dst, r)


for _t in "dq":
    _add([f"vprol{_t}"], prot, left=True, t=_t)
    _add([f"vpror{_t}"], prot, left=False, t=_t)
    _add([f"vprolv{_t}"], prot, left=True, t=_t)
    _add([f"vprorv{_t}"], prot, left=False, t=_t)
