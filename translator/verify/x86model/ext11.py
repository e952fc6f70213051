"""Opmask arithmetic and mask/vector instructions of mapping_tables/masks_more.yaml: kunpck*,
vpmovm2* / vpmov*2m, vpbroadcastmw2d / vpbroadcastmb2q, vpcompress* / vcompressp*, vpexpand* /
vexpandp*, the scatters (vpscatter*, vscatter*), vplzcntd/q and vpopcnt{b,w,d,q}.
(kshift* and kadd* are in ``masks.py``.)

Bit-exact per the Intel SDM operation sections; every mnemonic is cross-checked against this
host's CPU by ``python -m translator conformance``. Registered into ``HANDLERS`` of the package only
where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Mem, Vec
from .core import M64, Machine, X86Fault, bits_to_int, mask_bits
from .vector import U, nelem

HANDLERS: dict = {}

_W = {"b": 8, "w": 16, "d": 32, "q": 64}
_ES = {"b": 1, "w": 2, "d": 4, "q": 8}


def _add(names, fn, **kw):
    for n in names:
        HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


# ---- kunpck ------------------------------------------------------------------------------------

def kunpck(mc: Machine, half: int) -> None:
    """dst = src1[half-1:0] << half | src2[half-1:0], zero-extended to 64 bits."""
    dst, a, b = mc.insn.ops
    m = (1 << half) - 1
    mc.kset(dst, (mc.kget(a) & m) << half | (mc.kget(b) & m))


_add(["kunpckbw"], kunpck, half=8)
_add(["kunpckwd"], kunpck, half=16)
_add(["kunpckdq"], kunpck, half=32)


# ---- mask <-> vector -----------------------------------------------------------------------------

def movm2(mc: Machine, es: int) -> None:
    """vpmovm2*: element i = all ones when k[i], else 0; bits above the vector zeroed."""
    dst, k = mc.insn.ops
    n = nelem(dst, es)
    act = mask_bits(mc.kget(k), n)
    ones = np.iinfo(U[es]).max
    mc.write_vreg_bytes(dst, np.where(act, ones, 0).astype(U[es]).tobytes(), False)


def mov2m(mc: Machine, es: int) -> None:
    """vpmov*2m: k[i] = the sign bit of element i; k bits above the element count zeroed."""
    k, src = mc.insn.ops
    n = nelem(src, es)
    v = mc.vreg(src, U[es], n)
    mc.kset(k, bits_to_int((v >> (8 * es - 1)).astype(bool)))


def broadcastm(mc: Machine, bits: int, es: int) -> None:
    """vpbroadcastmw2d / vpbroadcastmb2q: every element = zext(k[bits-1:0])."""
    dst, k = mc.insn.ops
    n = nelem(dst, es)
    v = mc.kget(k) & ((1 << bits) - 1)
    mc.write_vreg_bytes(dst, np.full(n, v, dtype=U[es]).tobytes(), False)


for _t, _es in _ES.items():
    _add([f"vpmovm2{_t}"], movm2, es=_es)
    _add([f"vpmov{_t}2m"], mov2m, es=_es)
_add(["vpbroadcastmw2d"], broadcastm, bits=16, es=4)
_add(["vpbroadcastmb2q"], broadcastm, bits=8, es=8)


# ---- per-element bit counts ----------------------------------------------------------------------

def _popcount(v: np.ndarray, es: int) -> np.ndarray:
    b = v.view(np.uint8).reshape(len(v), es)
    return np.unpackbits(b, axis=1).sum(axis=1).astype(U[es])


def _lzcnt(v: np.ndarray, es: int) -> np.ndarray:
    w = 8 * es
    return np.array([w - int(x).bit_length() for x in v], dtype=U[es])


def bitcount(mc: Machine, es: int, count) -> None:
    dst, src = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    v = mc.load_vec(src, U[es], n, act)
    mc.writeback(dst, count(v, es))


for _t, _es in _ES.items():
    _add([f"vpopcnt{_t}"], bitcount, es=_es, count=_popcount)
_add(["vplzcntd"], bitcount, es=4, count=_lzcnt)
_add(["vplzcntq"], bitcount, es=8, count=_lzcnt)


# ---- compress / expand -----------------------------------------------------------------------------

def compress(mc: Machine, es: int) -> None:
    """Active elements (all without a mask) of src, packed to the low end. Register destination:
    the rest keep dst ({k}) or are zero ({k}{z}, no mask); memory: only the packed elements are
    stored, contiguously (no alignment check)."""
    dst, src = mc.insn.ops
    n = nelem(src, es)
    act = mc.kmask(n)
    act = np.ones(n, dtype=bool) if act is None else act
    v = mc.vreg(src, U[es], n)
    packed = v[act]
    c = len(packed)
    if isinstance(dst, Mem):
        if mc.insn.zeroing:
            raise X86Fault("#UD", "compress to memory with {z}")
        if c:
            mc.write(mc.ea(dst), packed.tobytes())
        return
    if mc.insn.mask and not mc.insn.zeroing:
        out = mc.vreg(dst, U[es], n).copy()
    else:
        out = np.zeros(n, dtype=U[es])
    out[:c] = packed
    mc.write_vreg_bytes(dst, out.tobytes(), False)


def expand(mc: Machine, es: int) -> None:
    """Element j of dst, for each active j in order, takes the next element of src (register:
    from element 0 up; memory: contiguous, only popcount(k) elements read). Inactive elements
    keep dst ({k}) or are zeroed ({k}{z})."""
    dst, src = mc.insn.ops
    n = nelem(dst, es)
    act = mc.kmask(n)
    act = np.ones(n, dtype=bool) if act is None else act
    c = int(act.sum())
    if isinstance(src, Mem):
        v = np.frombuffer(mc.read(mc.ea(src), c * es), dtype=U[es]) if c else np.zeros(0, dtype=U[es])
    else:
        v = mc.vreg(src, U[es], n)[:c]
    res = np.zeros(n, dtype=U[es])
    res[act] = v
    if mc.insn.mask and not mc.insn.zeroing:
        res = np.where(act, res, mc.vreg(dst, U[es], n))
    mc.write_vreg_bytes(dst, res.astype(U[es]).tobytes(), False)


for _m, _es in (("vpcompressd", 4), ("vcompressps", 4), ("vpcompressq", 8), ("vcompresspd", 8)):
    _add([_m], compress, es=_es)
for _m, _es in (("vpexpandd", 4), ("vexpandps", 4), ("vpexpandq", 8), ("vexpandpd", 8)):
    _add([_m], expand, es=_es)


# ---- scatters ----------------------------------------------------------------------------------------

def scatter(mc: Machine, ies: int, es: int) -> None:
    """vpscatter / vscatter [base + vindex*scale + disp]{k}, src: for each element i < n with
    k[i] set, in order from element 0 up, mem[base + sext(vindex[i]) * scale + disp] = src[i]
    (so overlapping writes: the highest element wins); then k is cleared. n = the number of index
    or data elements, whichever is smaller. An active element outside the window raises #PF
    (the partially written state of a faulting scatter is not modelled)."""
    insn = mc.insn
    m, src = insn.ops[0], insn.ops[1]
    if not isinstance(m, Mem) or not isinstance(m.index, Vec) or not isinstance(src, Vec):
        raise mc.unmodelled("scatter operands")
    if m.seg in ("fs", "gs") or m.rip or m.base is None:
        raise mc.unmodelled("segment override / rip / no base in a VSIB operand")
    if not insn.mask:
        raise X86Fault("#UD", "scatter without a write-mask")
    n = min(m.index.bits // (8 * ies), src.bits // (8 * es))
    idt = np.int32 if ies == 4 else np.int64
    idx = np.frombuffer(mc.st.zmm[m.index.index], dtype=idt, count=n)
    data = mc.vreg(src, U[es], n)
    act = mask_bits(mc.st.k[insn.mask], n)
    base = mc.get(m.base) + m.disp
    for i in np.nonzero(act)[0]:
        i = int(i)
        a = (base + int(idx[i]) * m.scale) & M64
        mc.write(a, data[i].tobytes())
    mc.st.k[insn.mask] = 0


for _m, _ies, _es in (("vpscatterdd", 4, 4), ("vscatterdps", 4, 4), ("vpscatterdq", 4, 8),
                      ("vscatterdpd", 4, 8), ("vpscatterqd", 8, 4), ("vscatterqps", 8, 4),
                      ("vpscatterqq", 8, 8), ("vscatterqpd", 8, 8)):
    _add([_m], scatter, ies=_ies, es=_es)
