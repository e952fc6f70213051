"""SSE / AVX / AVX-512 vector instructions: FP arithmetic, FMA, moves, broadcasts, logic, integer
add/sub, shifts, conversions, compares, blends.

Each family is one small function over (Machine, parameters); ``HANDLERS`` maps every mnemonic
(legacy, VEX and EVEX spellings share the function; the encoding decides operand count and
upper-bit behaviour) to it.
"""
from __future__ import annotations

import re

import numpy as np

from ...ir import Gpr, Imm, KReg, Mem, Vec
from . import fp
from .core import Machine, bits_to_int
from .fp import F32, F64, FpEnv

HANDLERS: dict = {}

U = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
S = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
FMT = {"s": F32, "d": F64}


def fpenv(mc: Machine) -> FpEnv:
    env = FpEnv.from_mxcsr(mc.st.mxcsr, mc.insn.rounding, mc.insn.sae)
    if (mc.st.mxcsr & 0x1F80) != 0x1F80 and not env.sae:
        raise mc.unmodelled("unmasked MXCSR exceptions")
    return env


def raise_fp(mc: Machine, env: FpEnv, flags: int) -> None:
    if not env.sae:
        mc.fpflags |= flags


def three(mc: Machine):
    """(dst, src1, src2): legacy SSE is destructive, dst doubles as src1."""
    ops = mc.insn.ops
    if mc.legacy:
        return ops[0], ops[0], ops[1]
    return ops[0], ops[1], ops[2]


def legacy_align(mc: Machine, op, size: int = 16) -> None:
    """Legacy SSE packed memory operands must be 16-byte aligned (movups/movdqu excepted)."""
    if mc.legacy and isinstance(op, Mem):
        mc.check_aligned(op, size)


def nelem(dst, ebytes: int) -> int:
    return dst.bits // 8 // ebytes


def scalar_result(mc: Machine, dst: Vec, upper_from: Vec, value, dtype) -> None:
    """Scalar (ss/sd/...) write-back: element 0 = value under mask bit 0 ({k} keeps dst[0], {z}
    zeroes it); elements 1.. of the low 128 bits come from ``upper_from``; VEX/EVEX zero the rest."""
    dt = np.dtype(dtype)
    vals = mc.vreg(upper_from, dt, 16 // dt.itemsize).copy()
    m = mc.kmask(1)
    if m is not None and not m[0]:
        value = 0 if mc.insn.zeroing else mc.vreg(dst, dt, 1)[0]
    vals[0] = value
    mc.write_vreg_bytes(dst, vals.tobytes(), mc.legacy)


def scalar_src(mc: Machine, op, dt) -> np.ndarray:
    """Element 0 of a scalar operand (register or m32/m64), as a 1-element array."""
    m = mc.kmask(1)
    if isinstance(op, Mem) and m is not None and not m[0]:
        return np.zeros(1, dtype=dt)        # masked-off scalar load: no access
    return mc.load_vec(op, dt, 1)


def reg(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def family(pattern: str, names: list[str], fn, **fixed) -> None:
    """Register fn(mc, **groups) for every mnemonic in names matching the regex."""
    rx = re.compile(pattern)
    for n in names:
        m = rx.fullmatch(n)
        if m:
            kw = {k: v for k, v in m.groupdict().items()}
            kw.update(fixed)
            HANDLERS[n] = (lambda f, kw: (lambda mc: f(mc, **kw)))(fn, kw)


def _names(stems, suffixes, vex=True, legacy=True):
    out = []
    for s in stems:
        for x in suffixes:
            if vex:
                out.append(f"v{s}{x}")
            if legacy:
                out.append(f"{s}{x}")
    return out


# ---- FP arithmetic ---------------------------------------------------------------------------

def fp_arith(mc: Machine, op: str, kind: str, t: str) -> None:
    """dst = src1 OP src2, per element (packed) or element 0 (scalar)."""
    F = FMT[t]
    env = fpenv(mc)
    dst, s1, s2 = three(mc)
    if kind == "p":
        legacy_align(mc, s2)
        n = nelem(dst, F.bits // 8)
        act = mc.kmask(n)
        a = mc.load_vec(s1, F.utype, n, act)
        b = mc.load_vec(s2, F.utype, n, act)
        r, fl = _fp_op(op, a, b, F, env, act)
        raise_fp(mc, env, fl)
        mc.writeback(dst, r)
    else:
        a = mc.vreg(s1, F.utype, 1)
        b = scalar_src(mc, s2, F.utype)
        act = mc.kmask(1)
        r, fl = _fp_op(op, a, b, F, env, act)
        raise_fp(mc, env, fl)
        scalar_result(mc, dst, s1, r[0], F.utype)


def _fp_op(op, a, b, F, env, act):
    if op in ("max", "min"):
        return fp.fp_maxmin(op == "max", a, b, F, env, act)
    return fp.fp_binary(op, a, b, F, env, act)


family(r"v?(?P<op>add|sub|mul|div|max|min)(?P<kind>[ps])(?P<t>[sd])",
       _names(["add", "sub", "mul", "div", "max", "min"], ["ps", "pd", "ss", "sd"]), fp_arith)


def fp_sqrt(mc: Machine, kind: str, t: str) -> None:
    F = FMT[t]
    env = fpenv(mc)
    ops = mc.insn.ops
    if kind == "p":
        dst, src = ops[0], ops[1]
        legacy_align(mc, src)
        n = nelem(dst, F.bits // 8)
        act = mc.kmask(n)
        r, fl = fp.fp_sqrt(mc.load_vec(src, F.utype, n, act), F, env, act)
        raise_fp(mc, env, fl)
        mc.writeback(dst, r)
    else:
        dst, s1, s2 = three(mc)
        r, fl = fp.fp_sqrt(scalar_src(mc, s2, F.utype), F, env, mc.kmask(1))
        raise_fp(mc, env, fl)
        scalar_result(mc, dst, s1, r[0], F.utype)


family(r"v?sqrt(?P<kind>[ps])(?P<t>[sd])", _names(["sqrt"], ["ps", "pd", "ss", "sd"]), fp_sqrt)


# ---- FMA -------------------------------------------------------------------------------------
# vf[n]m{add,sub}{132,213,231}{ps,pd,ss,sd} dst(op1), op2, op3:
#   132: dst = op1*op3 + op2     213: dst = op2*op1 + op3     231: dst = op2*op3 + op1
# 'n' negates the product, 'sub' subtracts the addend. The multiplication is (a*b) with (a, b, c)
# the operands in the order of the formulas above, and the NaN priority is a, then b, then c:
# the first NaN in that order is returned quieted, SNaN has no precedence over QNaN, negation
# never changes a NaN, and 0*inf + QNaN returns the QNaN without raising invalid.
# Pinned by tests/test_x86_model.py::test_fma_nan_priority_* and measured on an AMD Zen 4 host
# (native execution). It is the priority order of the SDM operation pseudo-code's multiplicands
# (e.g. 213: "DEST := SRC2*DEST + SRC3") — NOT the encoded operand order (op1, op2, op3) and
# not "SNaN first". An Intel/bochs re-check is still open.
FMA_ORDER = {"132": (0, 2, 1), "213": (1, 0, 2), "231": (1, 2, 0)}


def fma(mc: Machine, neg: str, op: str, order: str, kind: str, t: str) -> None:
    F = FMT[t]
    env = fpenv(mc)
    ops = mc.insn.ops
    dst = ops[0]
    ia, ib, ic = FMA_ORDER[order]
    if kind == "p":
        n = nelem(dst, F.bits // 8)
        act = mc.kmask(n)
        vals = [mc.load_vec(o, F.utype, n, act) for o in ops]
    else:
        n, act = 1, mc.kmask(1)
        vals = [mc.vreg(ops[0], F.utype, 1), mc.vreg(ops[1], F.utype, 1), scalar_src(mc, ops[2], F.utype)]
    r, fl = fp.fp_fma(vals[ia], vals[ib], vals[ic], F, env, neg_prod=bool(neg),
                      neg_add=op == "sub", active=act)
    raise_fp(mc, env, fl)
    if kind == "p":
        mc.writeback(dst, r)
    else:
        scalar_result(mc, dst, dst, r[0], F.utype)


family(r"vf(?P<neg>n?)m(?P<op>add|sub)(?P<order>132|213|231)(?P<kind>[ps])(?P<t>[sd])",
       [f"vf{n}m{o}{w}{k}" for n in ("", "n") for o in ("add", "sub") for w in ("132", "213", "231")
        for k in ("ps", "pd", "ss", "sd")], fma)


# ---- moves -----------------------------------------------------------------------------------
_MOVES = {
    # mnemonic: (element bytes for masking, alignment required)
    "movups": (4, False), "movaps": (4, True), "movupd": (8, False), "movapd": (8, True),
    "movdqu": (8, False), "movdqa": (8, True),
    "vmovups": (4, False), "vmovaps": (4, True), "vmovupd": (8, False), "vmovapd": (8, True),
    "vmovdqu": (8, False), "vmovdqa": (8, True),
    "vmovdqu8": (1, False), "vmovdqu16": (2, False), "vmovdqu32": (4, False),
    "vmovdqu64": (8, False), "vmovdqa32": (4, True), "vmovdqa64": (8, True),
    # non-temporal stores: the same data movement, alignment required
    "movntps": (4, True), "movntpd": (8, True), "movntdq": (8, True),
    "vmovntps": (4, True), "vmovntpd": (8, True), "vmovntdq": (8, True),
}


def vmove(mc: Machine) -> None:
    """Full-width vector load / store / register move, with {k} / {k}{z} (stores: merge only,
    masked-off elements are neither written nor faulted on)."""
    es, aligned = _MOVES[mc.insn.mnemonic]
    dst, src = mc.insn.ops
    vl = (dst if isinstance(dst, Vec) else src).bits
    for o in (dst, src):
        if isinstance(o, Mem) and aligned:
            mc.check_aligned(o, vl // 8)
    n = vl // 8 // es
    act = mc.kmask(n)
    mc.writeback(dst, mc.load_vec(src, U[es], n, act))


for _m in _MOVES:
    HANDLERS[_m] = vmove


def scalar_move(mc: Machine, t: str) -> None:
    """(v)movss / (v)movsd: load zero-extends, store writes one element, reg-reg merges."""
    F = FMT[t]
    dt = F.utype
    ops = mc.insn.ops
    if isinstance(ops[0], Mem):
        m = mc.kmask(1)
        if m is None or m[0]:
            mc.write(mc.ea(ops[0]), mc.vreg(ops[1], dt, 1).tobytes())
        return
    dst = ops[0]
    if isinstance(ops[1], Mem):              # load: element 0, rest of 128 bits zeroed
        v = scalar_src(mc, ops[1], dt)
        zero = Vec(dst.index, 128)
        vals = np.zeros(16 // dt().itemsize, dtype=dt)
        m = mc.kmask(1)
        vals[0] = v[0] if (m is None or m[0]) else (0 if mc.insn.zeroing else mc.vreg(dst, dt, 1)[0])
        if mc.legacy:
            mc.write_vreg_bytes(zero, vals.tobytes(), True)
        else:
            mc.write_vreg_bytes(zero, vals.tobytes(), False)
        return
    if mc.legacy:
        dst, s1, s2 = ops[0], ops[0], ops[1]
    else:
        dst, s1, s2 = ops
    scalar_result(mc, dst, s1, mc.vreg(s2, dt, 1)[0], dt)


HANDLERS.update({"movss": lambda mc: scalar_move(mc, "s"), "vmovss": lambda mc: scalar_move(mc, "s"),
                 "movsd": lambda mc: scalar_move(mc, "d"), "vmovsd": lambda mc: scalar_move(mc, "d")})


# ---- broadcasts ------------------------------------------------------------------------------
_BCST = {"vbroadcastss": 4, "vbroadcastsd": 8, "vpbroadcastb": 1, "vpbroadcastw": 2,
         "vpbroadcastd": 4, "vpbroadcastq": 8}


def broadcast(mc: Machine) -> None:
    es = _BCST[mc.insn.mnemonic]
    dst, src = mc.insn.ops
    n = nelem(dst, es)
    if isinstance(src, Gpr):
        v = np.array([mc.get(src) & ((1 << (8 * es)) - 1)], dtype=U[es])
    elif isinstance(src, Vec):
        v = mc.vreg(src, U[es], 1)
    else:
        act = mc.kmask(n)
        if act is not None and not act.any():
            v = np.zeros(1, dtype=U[es])
        else:
            v = np.frombuffer(mc.read(mc.ea(src), es), dtype=U[es])
    mc.writeback(dst, np.full(n, v[0], dtype=U[es]))


for _m in _BCST:
    HANDLERS[_m] = broadcast


# ---- bitwise logic ---------------------------------------------------------------------------
_LOGIC = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
          "andn": lambda a, b: np.bitwise_and(np.invert(a), b)}


def logic(mc: Machine, op: str, es: int) -> None:
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n, act)
    b = mc.load_vec(s2, U[es], n, act)
    mc.writeback(dst, _LOGIC[op](a, b))


for _op in _LOGIC:
    for _sfx, _es in (("d", 4), ("q", 8)):
        HANDLERS[f"vp{_op}{_sfx}"] = (lambda o, e: lambda mc: logic(mc, o, e))(_op, _es)
    for _pfx in ("", "v"):
        HANDLERS[f"{_pfx}p{_op}"] = (lambda o: lambda mc: logic(mc, o, 8))(_op)
        HANDLERS[f"{_pfx}{_op}ps"] = (lambda o: lambda mc: logic(mc, o, 4))(_op)
        HANDLERS[f"{_pfx}{_op}pd"] = (lambda o: lambda mc: logic(mc, o, 8))(_op)


# ---- integer add / sub -----------------------------------------------------------------------
_ES = {"b": 1, "w": 2, "d": 4, "q": 8}


def int_arith(mc: Machine, op: str, t: str) -> None:
    es = _ES[t]
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n, act)
    b = mc.load_vec(s2, U[es], n, act)
    mc.writeback(dst, (a + b) if op == "add" else (a - b))


family(r"v?p(?P<op>add|sub)(?P<t>[bwdq])", _names(["padd", "psub"], "bwdq"), int_arith)


def int_minmax_mul(mc: Machine, op: str, t: str) -> None:
    """p{max,min}{s,u}{b,w,d,q} and pmull{w,d,q} (low half of the product)."""
    es = _ES[t]
    dst, s1, s2 = three(mc)
    legacy_align(mc, s2)
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n, act)
    b = mc.load_vec(s2, U[es], n, act)
    if op == "mull":
        r = ((a.astype(object) * b.astype(object)) & ((1 << (8 * es)) - 1)).astype(U[es])
    else:
        x, y = (a.view(S[es]), b.view(S[es])) if op[3] == "s" else (a, b)
        r = (np.maximum(x, y) if op.startswith("max") else np.minimum(x, y)).view(U[es])
    mc.writeback(dst, r)


family(r"v?p(?P<op>maxs|mins|maxu|minu)(?P<t>[bwdq])",
       _names(["pmaxs", "pmins", "pmaxu", "pminu"], "bwdq"), int_minmax_mul)
family(r"v?p(?P<op>mull)(?P<t>[wdq])", _names(["pmull"], "wdq"), int_minmax_mul)


# ---- shifts ----------------------------------------------------------------------------------

def shift(mc: Machine, dirn: str, t: str) -> None:
    """psll/psrl/psra by imm8 or by the low 64 bits of an xmm/m128: counts >= element width give 0
    (logical) or the sign fill (arithmetic)."""
    es = _ES[t]
    w = 8 * es
    ops = mc.insn.ops
    if mc.legacy:
        dst, src, cnt = ops[0], ops[0], ops[1]
    else:
        dst, src, cnt = ops
    if isinstance(cnt, Imm):
        c = cnt.value & 0xFF
    else:
        legacy_align(mc, cnt)
        c = int(mc.load_vec(cnt, np.uint64, 1)[0])
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(src, U[es], n, act)
    mc.writeback(dst, _shift_elems(a, dirn, np.full(n, min(c, w), dtype=np.uint64), w, es))


def _shift_elems(a, dirn, c, w, es):
    """c: per-element counts (uint64); any count >= w saturates."""
    big = c >= w
    cc = np.minimum(c, w - 1).astype(U[es])
    if dirn == "ll":
        r = np.where(big, 0, a << cc)
    elif dirn == "rl":
        r = np.where(big, 0, a >> cc)
    else:
        r = (a.view(S[es]) >> cc.astype(S[es])).view(U[es])   # count >= w: w-1 = sign fill
    return r.astype(U[es])


family(r"v?ps(?P<dirn>ll|rl|ra)(?P<t>[wdq])", _names(["psll", "psrl", "psra"], "wdq"), shift)


def shift_var(mc: Machine, dirn: str, t: str) -> None:
    """vpsllv/vpsrlv/vpsrav: per-element counts."""
    es = _ES[t]
    dst, s1, s2 = three(mc)
    n = nelem(dst, es)
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n, act)
    c = mc.load_vec(s2, U[es], n, act).astype(np.uint64)
    mc.writeback(dst, _shift_elems(a, dirn, c, 8 * es, es))


family(r"vps(?P<dirn>ll|rl|ra)v(?P<t>[wdq])",
       [f"vps{d}v{t}" for d in ("ll", "rl", "ra") for t in "wdq"], shift_var)


# ---- conversions -----------------------------------------------------------------------------

def cvt_ps2dq(mc: Machine, truncate: bool) -> None:
    dst, src = mc.insn.ops
    legacy_align(mc, src)
    env = fpenv(mc)
    n = nelem(dst, 4)
    act = mc.kmask(n)
    r, fl = fp.fp_cvt_f2i(mc.load_vec(src, np.uint32, n, act), F32, env, truncate, 32, act)
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


def cvt_dq2ps(mc: Machine) -> None:
    dst, src = mc.insn.ops
    legacy_align(mc, src)
    env = fpenv(mc)
    n = nelem(dst, 4)
    act = mc.kmask(n)
    r, fl = fp.fp_cvt_i2f(mc.load_vec(src, np.int32, n, act), F32, env, act)
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


for _p in ("", "v"):
    HANDLERS[f"{_p}cvtps2dq"] = lambda mc: cvt_ps2dq(mc, False)
    HANDLERS[f"{_p}cvttps2dq"] = lambda mc: cvt_ps2dq(mc, True)
    HANDLERS[f"{_p}cvtdq2ps"] = cvt_dq2ps


# ---- compares --------------------------------------------------------------------------------

def fp_cmp(mc: Machine, kind: str, t: str) -> None:
    """cmpps & co. EVEX: predicate bits into k (ANDed with the write mask, upper k bits zeroed).
    VEX / legacy: all-ones / all-zeros elements."""
    F = FMT[t]
    env = fpenv(mc)
    ops = mc.insn.ops
    imm = ops[-1].value & 0x1F
    if mc.legacy:
        dst, s1, s2 = ops[0], ops[0], ops[1]
        imm &= 7
    else:
        dst, s1, s2 = ops[0], ops[1], ops[2]
    if kind == "p":
        legacy_align(mc, s2)
        n = (s1.bits if isinstance(s1, Vec) else dst.bits) // F.bits
        act = mc.kmask(n)
        a = mc.load_vec(s1, F.utype, n, act)
        b = mc.load_vec(s2, F.utype, n, act)
    else:
        n, act = 1, mc.kmask(1)
        a, b = mc.vreg(s1, F.utype, 1), scalar_src(mc, s2, F.utype)
    r, fl = fp.fp_compare(imm, a, b, F, env, act)
    raise_fp(mc, env, fl)
    if isinstance(dst, KReg):
        if act is not None:
            r = r & act
        mc.kset(dst, bits_to_int(r))
        return
    ones = np.where(r, F.utype(F.sign | F.abs_mask), F.utype(0))
    if kind == "p":
        mc.writeback(dst, ones)
    else:
        scalar_result(mc, dst, s1, ones[0], F.utype)


family(r"v?cmp(?P<kind>[ps])(?P<t>[sd])", _names(["cmp"], ["ps", "pd", "ss", "sd"]), fp_cmp)


def int_test_to_k(mc: Machine, neg: str, t: str) -> None:
    """vptestm{b,w,d,q} / vptestnm*: k = (a & b) != 0 (== 0 for nm), ANDed with the write mask,
    upper k bits zeroed."""
    es = _ES[t]
    dst, s1, s2 = mc.insn.ops
    n = s1.bits // 8 // es
    act = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n, act)
    b = mc.load_vec(s2, U[es], n, act)
    r = (a & b) != 0
    if neg:
        r = ~r
    if act is not None:
        r = r & act
    mc.kset(dst, bits_to_int(r))


family(r"vptest(?P<neg>n?)m(?P<t>[bwdq])", [f"vptest{n}m{t}" for n in ("", "n") for t in "bwdq"],
       int_test_to_k)


# ---- blends ------------------------------------------------------------------------------------

def blendm(mc: Machine, es: int) -> None:
    """vblendmps & co: dst[i] = k[i] ? src2[i] : ({z} ? 0 : src1[i]); no mask selects src2."""
    dst, s1, s2 = mc.insn.ops
    n = nelem(dst, es)
    k = mc.kmask(n)
    a = mc.load_vec(s1, U[es], n)
    b = mc.load_vec(s2, U[es], n, k)
    if k is None:
        r = b
    else:
        r = np.where(k, b, 0 if mc.insn.zeroing else a).astype(U[es])
    mc.write_vreg_bytes(dst, r.tobytes(), False)


HANDLERS.update({"vblendmps": lambda mc: blendm(mc, 4), "vblendmpd": lambda mc: blendm(mc, 8),
                 "vpblendmd": lambda mc: blendm(mc, 4), "vpblendmq": lambda mc: blendm(mc, 8),
                 "vpblendmb": lambda mc: blendm(mc, 1), "vpblendmw": lambda mc: blendm(mc, 2)})


# ---- vzeroupper / vzeroall -----------------------------------------------------------------------

@reg("vzeroupper")
def vzeroupper(mc: Machine) -> None:
    for i in range(16):
        mc.st.zmm[i] = mc.st.zmm[i][:16] + bytes(48)


@reg("vzeroall")
def vzeroall(mc: Machine) -> None:
    for i in range(16):
        mc.st.zmm[i] = bytes(64)
