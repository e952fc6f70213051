"""Still more SSE / AVX / AVX-512 semantics: GPR <-> xmm moves (movd/movq), half-register moves
(movhlps, movlps), element extracts (pextr*), 128-bit broadcast / insert, saturating packs,
AVX masked moves by sign bits (vmaskmovps), variable / immediate blends, palignr, AVX2 integer
equality compares into vectors, and the table-driven special-value fix-up ``vfixupimmps``.

Bit-exact per the Intel SDM operation sections; every family is cross-checked against this host's
CPU (``tests/test_lower_more.py::test_model_native`` and ``python -m translator conformance``).
Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Gpr, Mem, Vec
from .core import Machine, M64
from .vector import U, legacy_align, nelem, three

HANDLERS: dict = {}


def _add(names, fn, **kw):
    for n in names:
        HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


def _both(stems):
    return [p + s for s in stems for p in ("", "v")]


def _low128(mc: Machine, dst: Vec, data: bytes) -> None:
    """Write 16 bytes to xmm dst: legacy keeps bits 128+, VEX/EVEX zero them."""
    mc.write_vreg_bytes(Vec(dst.index, 128), data, mc.legacy)


# ---- movd / movq -------------------------------------------------------------------------------

def movdq(mc: Machine, size: int) -> None:
    """(v)movd / (v)movq: xmm <- r/m (zero-extended to 128 bits), r/m <- xmm low element,
    xmm <- xmm/m64 low quadword (movq: bits 127:64 zeroed)."""
    dst, src = mc.insn.ops
    if isinstance(dst, Vec):
        if isinstance(src, Vec):
            v = mc.st.zmm[src.index][:size]
        elif isinstance(src, Gpr):
            v = (mc.get(src) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        else:
            v = mc.read(mc.ea(src), size)
        _low128(mc, dst, v + bytes(16 - size))
        return
    v = int.from_bytes(mc.st.zmm[src.index][:size], "little")
    if isinstance(dst, Gpr):
        mc.set(dst, v)
    else:
        mc.write_int(dst, v, size)


_add(_both(["movd"]), movdq, size=4)
_add(_both(["movq"]), movdq, size=8)


# ---- movhlps / movlps --------------------------------------------------------------------------

def movhlps(mc: Machine) -> None:
    """dst[63:0] = src2[127:64], dst[127:64] = src1[127:64] (legacy: dst's own)."""
    dst, s1, s2 = three(mc)
    hi1 = mc.st.zmm[s1.index][8:16]
    _low128(mc, dst, mc.st.zmm[s2.index][8:16] + hi1)


def movlps(mc: Machine) -> None:
    """Load: dst[63:0] = m64, dst[127:64] = src1[127:64] (legacy: dst's own). Store: m64 = low
    quadword."""
    ops = mc.insn.ops
    if isinstance(ops[0], Mem):
        mc.write(mc.ea(ops[0]), mc.st.zmm[ops[1].index][:8])
        return
    dst, s1, m = three(mc)
    _low128(mc, dst, mc.read(mc.ea(m), 8) + mc.st.zmm[s1.index][8:16])


_add(_both(["movhlps"]), movhlps)
_add(_both(["movlps"]), movlps)


# ---- pextr* ------------------------------------------------------------------------------------

def pextr(mc: Machine, es: int) -> None:
    """r32/r64 = zero-extended element (imm mod count) of xmm; m = the element."""
    dst, src, imm = mc.insn.ops
    i = imm.value & (16 // es - 1)
    v = int.from_bytes(mc.st.zmm[src.index][i * es:(i + 1) * es], "little")
    if isinstance(dst, Gpr):
        if dst.bits < 32:
            raise mc.unmodelled("pextr into a narrow register")
        mc.set(dst, v)
    else:
        mc.write_int(dst, v, es)


for _t, _es in (("b", 1), ("w", 2), ("d", 4), ("q", 8)):
    _add(_both([f"pextr{_t}"]), pextr, es=_es)


# ---- 128-bit broadcast / insert ----------------------------------------------------------------

def broadcast128(mc: Machine) -> None:
    dst, src = mc.insn.ops
    v = mc.read(mc.ea(src), 16)
    mc.write_vreg_bytes(dst, v * (dst.bits // 128), False)


def insert128(mc: Machine) -> None:
    """dst = src1 with 128-bit lane (imm & 1) replaced by xmm/m128."""
    dst, s1, s2, imm = mc.insn.ops
    base = bytearray(mc.st.zmm[s1.index][:32])
    v = mc.st.zmm[s2.index][:16] if isinstance(s2, Vec) else mc.read(mc.ea(s2), 16)
    o = 16 * (imm.value & 1)
    base[o:o + 16] = v
    mc.write_vreg_bytes(dst, bytes(base), False)


_add(["vbroadcastf128", "vbroadcasti128"], broadcast128)
_add(["vinsertf128", "vinserti128"], insert128)


# ---- saturating packs --------------------------------------------------------------------------

def pack(mc: Machine, s_es: int, signed: bool) -> None:
    """Per 128-bit lane: the src1 elements narrowed with saturation, then the src2 ones."""
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    d_es = s_es // 2
    n_src = nelem(dst, s_es)
    st = {4: np.int32, 2: np.int16}[s_es]
    a = mc.load_vec(s1, U[s_es], n_src).view(st).astype(np.int64)
    b = mc.load_vec(s2, U[s_es], n_src).view(st).astype(np.int64)
    if signed:
        lo, hi = -(1 << (8 * d_es - 1)), (1 << (8 * d_es - 1)) - 1
    else:
        lo, hi = 0, (1 << (8 * d_es)) - 1
    a, b = np.clip(a, lo, hi), np.clip(b, lo, hi)
    per = 16 // s_es
    out = []
    for L in range(0, n_src, per):
        out += [a[L:L + per], b[L:L + per]]
    r = (np.concatenate(out) & ((1 << (8 * d_es)) - 1)).astype(U[d_es])
    mc.writeback(dst, r)


_add(_both(["packssdw"]), pack, s_es=4, signed=True)
_add(_both(["packsswb"]), pack, s_es=2, signed=True)
_add(_both(["packuswb"]), pack, s_es=2, signed=False)
_add(_both(["packusdw"]), pack, s_es=4, signed=False)


# ---- vmaskmovps / vmaskmovpd -------------------------------------------------------------------

def maskmov(mc: Machine, es: int) -> None:
    """Load: dst[i] = mask[i] sign ? m[i] : 0. Store: m[i] = src[i] where mask[i] sign is set.
    Masked-off elements are not accessed (no fault)."""
    ops = mc.insn.ops
    dt = U[es]
    top = 1 << (8 * es - 1)
    if isinstance(ops[0], Mem):
        m, mask, src = ops
        n = nelem(src, es)
        act = (mc.vreg(mask, dt, n) & dt(top)) != 0
        addr = mc.ea(m)
        raw = mc.st.zmm[src.index]
        for i in np.nonzero(act)[0]:
            i = int(i)
            mc.write((addr + i * es) & M64, raw[i * es:(i + 1) * es])
        return
    dst, mask, m = ops
    n = nelem(dst, es)
    act = (mc.vreg(mask, dt, n) & dt(top)) != 0
    out = mc.load_vec(m, dt, n, act)
    out = np.where(act, out, 0).astype(dt)
    mc.write_vreg_bytes(dst, out.tobytes(), False)


_add(["vmaskmovps"], maskmov, es=4)
_add(["vmaskmovpd"], maskmov, es=8)


# ---- blends ------------------------------------------------------------------------------------

def blendv(mc: Machine, es: int) -> None:
    """dst[i] = mask[i] sign ? src2[i] : src1[i]; legacy: mask is xmm0, dst doubles as src1."""
    ops = mc.insn.ops
    if mc.legacy:
        dst, s1, s2, mask = ops[0], ops[0], ops[1], Vec(0, 128)
    else:
        dst, s1, s2, mask = ops
    legacy_align(mc, s2)
    dt = U[es]
    n = nelem(dst, es)
    a = mc.load_vec(s1, dt, n)
    b = mc.load_vec(s2, dt, n)
    sel = (mc.vreg(mask, dt, n) >> dt(8 * es - 1)) != 0
    mc.writeback(dst, np.where(sel, b, a).astype(dt))


_add(_both(["blendvps"]), blendv, es=4)
_add(_both(["blendvpd"]), blendv, es=8)
_add(_both(["pblendvb"]), blendv, es=1)


def blend_imm(mc: Machine, es: int) -> None:
    """dst[i] = imm bit (i mod 8) ? src2[i] : src1[i] (vpblendd; blendps/blendpd: bit i)."""
    ops = mc.insn.ops
    if mc.legacy:
        dst, s1, s2, imm = ops[0], ops[0], ops[1], ops[2]
    else:
        dst, s1, s2, imm = ops
    legacy_align(mc, s2)
    dt = U[es]
    n = nelem(dst, es)
    a = mc.load_vec(s1, dt, n)
    b = mc.load_vec(s2, dt, n)
    sel = np.array([(imm.value >> (i % 8)) & 1 for i in range(n)], dtype=bool)
    mc.writeback(dst, np.where(sel, b, a).astype(dt))


_add(["vpblendd"], blend_imm, es=4)
_add(_both(["blendps"]), blend_imm, es=4)
_add(_both(["blendpd"]), blend_imm, es=8)


# ---- palignr -----------------------------------------------------------------------------------

def palignr(mc: Machine) -> None:
    """Per 128-bit lane: (src1:src2) >> (imm * 8), low 16 bytes; legacy: src1 is dst."""
    ops = mc.insn.ops
    if mc.legacy:
        dst, s1, s2, imm = ops[0], ops[0], ops[1], ops[2]
    else:
        dst, s1, s2, imm = ops
    legacy_align(mc, s2)
    n = nelem(dst, 1)
    a = mc.load_vec(s1, np.uint8, n)
    b = mc.load_vec(s2, np.uint8, n)
    sh = imm.value
    out = np.zeros(n, dtype=np.uint8)
    for L in range(0, n, 16):
        cat = np.concatenate([b[L:L + 16], a[L:L + 16], np.zeros(256, dtype=np.uint8)])
        out[L:L + 16] = cat[sh:sh + 16]
    mc.writeback(dst, out)


_add(_both(["palignr"]), palignr)


# ---- integer equality / greater-than into vectors (SSE2 / AVX2 forms) ---------------------------

def pcmp_vec(mc: Machine, es: int, op: str) -> None:
    dst = mc.insn.ops[0]
    if not isinstance(dst, Vec) or mc.insn.encoding == "evex":
        raise mc.unmodelled("EVEX compare into a mask register")
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n)
    if op == "eq":
        r = a == b
    else:
        st = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[es]
        r = a.view(st) > b.view(st)
    mc.writeback(dst, np.where(r, U[es](-1 & ((1 << (8 * es)) - 1)), 0).astype(U[es]))


for _t, _es in (("b", 1), ("w", 2), ("d", 4), ("q", 8)):
    _add(_both([f"pcmpeq{_t}"]), pcmp_vec, es=_es, op="eq")
    _add(_both([f"pcmpgt{_t}"]), pcmp_vec, es=_es, op="gt")


# ---- vfixupimmps -------------------------------------------------------------------------------
# Token j of src1 (QNaN 0, SNaN 1, ±0 2, +1.0 3, -Inf 4, +Inf 5, other negative 6, other positive 7;
# denormals are values unless MXCSR.DAZ), response = nibble j of the table element; the response
# picks the result. imm8 only selects which tokens raise #ZE/#IE (status flags, masked here).

_FIX_CONST = {4: 0xFF800000, 5: 0x7F800000, 7: 0x80000000, 8: 0x00000000, 9: 0xBF800000,
              10: 0x3F800000, 11: 0x3F000000, 12: 0x42B40000, 13: 0x3FC90FDB, 14: 0x7F7FFFFF,
              15: 0xFF7FFFFF, 3: 0xFFC00000}


def fixup_token(x: int, daz: bool) -> tuple[int, int]:
    """(token, tsrc) of one f32 bit pattern."""
    if daz and (x & 0x7F800000) == 0:
        x &= 0x80000000                     # DAZ: denormals become zeros of their sign (measured)
    exp, man, sign = x & 0x7F800000, x & 0x7FFFFF, x >> 31
    if exp == 0x7F800000 and man:
        return (0 if man & 0x400000 else 1), x
    if exp == 0 and man == 0:
        return 2, x
    if x == 0x3F800000:
        return 3, x
    if exp == 0x7F800000:
        return (4 if sign else 5), x
    return (6 if sign else 7), x


_FIX_FLAGS = {2: ((0, 0x4), (1, 0x1)), 3: ((2, 0x4), (3, 0x1)), 1: ((4, 0x1),), 4: ((5, 0x1),),
              6: ((6, 0x1),), 5: ((7, 0x1),)}


def fixup_flags(src: int, imm: int, daz: bool) -> int:
    """MXCSR status bits (IE 0x1, ZE 0x4) that imm8 asks for on this token."""
    j, _ = fixup_token(src, daz)
    return sum(f for bit, f in _FIX_FLAGS.get(j, ()) if imm >> bit & 1)


def fixup_one(dest: int, src: int, tbl: int, daz: bool) -> int:
    j, tsrc = fixup_token(src, daz)
    r = (tbl >> (4 * j)) & 0xF
    if r == 0:
        return dest
    if r == 1:
        return tsrc
    if r == 2:
        return tsrc | 0x7FC00000            # QNaN(tsrc): measured, exponent and quiet bit set
    if r == 6:
        return 0xFF800000 if tsrc >> 31 else 0x7F800000
    return _FIX_CONST[r]


def fixupimmps(mc: Machine) -> None:
    dst, s1, s2, imm = mc.insn.ops
    if (mc.st.mxcsr & 0x1F80) != 0x1F80 and not mc.insn.sae:
        raise mc.unmodelled("unmasked MXCSR exceptions")
    n = nelem(dst, 4)
    act = mc.kmask(n)
    d = mc.vreg(dst, np.uint32, n)
    a = mc.vreg(s1, np.uint32, n)
    t = mc.load_vec(s2, np.uint32, n, act)
    daz = bool(mc.st.mxcsr & 0x40)
    r = np.array([fixup_one(int(d[i]), int(a[i]), int(t[i]), daz) for i in range(n)], dtype=np.uint32)
    if not mc.insn.sae:
        for i in range(n):
            if act is None or act[i]:
                mc.fpflags |= fixup_flags(int(a[i]), imm.value, daz)
    mc.writeback(dst, r)


HANDLERS["vfixupimmps"] = fixupimmps
