"""More AVX512-FP16 semantics: vrndscaleph/sh, vgetexpph/sh, vgetmantph/sh, vscalefph/sh,
vreduceph/sh, vfpclassph/sh, v(u)comish, and the conversions f16 <-> f64 (vcvtph2pd, vcvtpd2ph),
sh <-> ss/sd, sh <-> 32/64-bit integers (vcvtsi2sh, vcvtusi2sh, vcvt[t]sh2[u]si) and packed
f16 <-> 64-bit integers (vcvt[t]ph2[u]qq, vcvt[u]qq2ph).

Like ext9.py (whose exact binary16 helpers this module uses: ``value``, ``round16``) no executor
here runs FP16, so every result is computed from the Intel AVX512-FP16 specification's operation
sections on exact ``Fraction`` values and rounded once; tests/test_fp16_more.py cross-checks the
model against numpy float16 / float64 and against fp.py's f32 versions of the same operations
where the formats agree (getmant, fpclass, getexp, scalef special cases).

x86 rules used:
* RNDSCALE: 2**-M * ROUND(2**M * src), M = imm8[7:4], ROUND per imm8[1:0] or MXCSR.RC if imm8[2];
  NaN -> QNaN(src), +-Inf and +-0 unchanged, a zero result keeps the source sign;
* GETEXP: floor(log2|src|) (denormals normalised), +-0 -> -Inf, +-Inf -> +Inf, NaN quieted;
* GETMANT: as VGETMANTPS (interval imm8[1:0], sign control imm8[3:2]) on binary16 fields;
* SCALEF: src1 * 2**floor(src2), one rounding; the VSCALEFPS special-case table;
* REDUCE: src - 2**-M * ROUND(2**M * src), both steps in the imm8 rounding; +-Inf -> +0, an
  exact zero difference is +0 (-0 rounding down);
* FPCLASS: QNaN, +0, -0, +Inf, -Inf, denormal, negative finite, SNaN (imm8 bits 0..7);
* (U)COMISH: ZF,PF,CF = 111 unordered, 000 greater, 001 less, 100 equal; OF = SF = AF = 0.
FP16 values ignore MXCSR.DAZ/FTZ; f32/f64 inputs of the narrowing conversions take DAZ.
MXCSR status flags are computed (not compared by verify: the Arm side has no FPSR model).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from ...ir import Gpr, Mem, Vec
from . import fp, vector
from .core import AF, CF, OF, PF, SF, ZF, Machine, bits_to_int
from .ext9 import (DE, DNAN, IE, INF, PE, QUIET, RD, RN, RU, RZ, SIGN, _src_bits, cvt_f32_to_h, h_binary, h_fma,
                   cvt_h_to_f32, cvt_h_to_int, cvt_int_to_h, is_denormal, is_inf, is_nan, is_snan,
                   round16, value)

HANDLERS: dict = {}

X86_RC = {0: RN, 1: RD, 2: RU, 3: RZ}
ONE = 0x3C00


def _rint(x: Fraction, rc: int) -> int:
    """x rounded to an integer in mode rc (ties to even for RN)."""
    f = x.numerator // x.denominator
    rem = x - f
    if rem == 0:
        return f
    if rc == RN:
        return f + int(rem > Fraction(1, 2) or (rem == Fraction(1, 2) and f & 1))
    if rc == RD:
        return f
    if rc == RU:
        return f + 1
    return f + 1 if x < 0 else f                       # RZ


def _exact16(x: Fraction, sign_of_zero: int) -> int:
    """Encode a value known to be representable in binary16."""
    r, f = round16(x, RN, sign_of_zero)
    assert not f & PE, x
    return r


def _qnan(a: int) -> tuple[int, int]:
    return a | QUIET, IE if is_snan(a) else 0


# ---- element operations (binary16 bit patterns) -------------------------------------------------

def h_rndscale(a: int, imm: int, mxcsr_rc: int) -> tuple[int, int]:
    if is_nan(a):
        return _qnan(a)
    if is_inf(a) or not a & 0x7FFF:
        return a, 0
    M = imm >> 4
    rc = mxcsr_rc if imm & 4 else X86_RC[imm & 3]
    v = value(a)
    q = _rint(v * 2 ** M, rc)
    r = Fraction(q, 2 ** M)
    fl = DE if is_denormal(a) else 0
    if r != v and not imm & 8:
        fl |= PE
    return _exact16(r, a >> 15), fl


def h_getexp(a: int) -> tuple[int, int]:
    if is_nan(a):
        return _qnan(a)
    if not a & 0x7FFF:
        return SIGN | INF, 0                           # -Inf
    if is_inf(a):
        return INF, 0
    v = abs(value(a))
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    return _exact16(Fraction(e), 0), DE if is_denormal(a) else 0


def h_getmant(a: int, imm: int) -> tuple[int, int]:
    interv, sctl = imm & 3, (imm >> 2) & 3
    if is_nan(a):
        return _qnan(a)
    s = a >> 15
    rs = 0 if sctl & 1 else s
    if not a & 0x7FFF:
        return (rs << 15) | ONE, 0
    if s and sctl & 2:
        return DNAN, IE
    if is_inf(a):
        return (rs << 15) | ONE, 0
    v = abs(value(a))
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    m = v / Fraction(2) ** e                           # [1, 2)
    if interv == 1 and e & 1:                          # [1/2, 2): odd exponents give [1/2, 1)
        m /= 2
    elif interv == 2:                                  # [1/2, 1)
        m /= 2
    elif interv == 3 and m >= Fraction(3, 2):          # [3/4, 3/2)
        m /= 2
    r = _exact16(m, 0)
    return (rs << 15) | r, DE if is_denormal(a) else 0


def _floor_val(b: int) -> int:
    v = value(b)
    return v.numerator // v.denominator


def h_scalef(a: int, b: int, rc: int) -> tuple[int, int]:
    if is_nan(a):
        fl = IE if is_snan(a) or is_snan(b) else 0
        if not is_snan(a) and is_inf(b):
            return (0 if b & SIGN else INF), fl          # QNaN * 2**+Inf = +Inf, * 2**-Inf = +0
        return a | QUIET, fl
    if is_nan(b):
        return _qnan(b)
    fl = DE if is_denormal(a) else 0
    za, ia = not a & 0x7FFF, is_inf(a)
    if is_inf(b):
        up = not b & SIGN
        if (za and up) or (ia and not up):
            return DNAN, fl | IE
        if za or ia:
            return a, fl
        return (a & SIGN) | (INF if up else 0), fl
    if za or ia:
        return a, fl
    n = max(min(_floor_val(b), 64), -64)               # beyond +-64 the result over/underflows alike
    r, f = round16(value(a) * Fraction(2) ** n, rc, a >> 15)
    return r, fl | f


def h_reduce(a: int, imm: int, mxcsr_rc: int) -> tuple[int, int]:
    if is_nan(a):
        return _qnan(a)
    if is_inf(a):
        return 0, 0
    M = imm >> 4
    rc = mxcsr_rc if imm & 4 else X86_RC[imm & 3]
    v = value(a)
    t = Fraction(_rint(v * 2 ** M, rc), 2 ** M)
    d = v - t
    if d == 0:
        return int(rc == RD) << 15, 0
    r, f = round16(d, rc)
    return r, (PE if f & PE and not imm & 8 else 0)


def h_fpclass(a: int, imm: int) -> bool:
    mag, neg = a & 0x7FFF, bool(a & SIGN)
    cats = [mag > INF and bool(a & QUIET), mag == 0 and not neg, mag == 0 and neg,
            mag == INF and not neg, mag == INF and neg, 0 < mag < 0x400,
            neg and 0 < mag < INF, mag > INF and not a & QUIET]
    return any(c for i, c in enumerate(cats) if imm >> i & 1)


# ---- f64 <-> f16 ---------------------------------------------------------------------------------

def f64_value(b: int) -> Fraction:
    e, f = (b >> 52) & 0x7FF, b & ((1 << 52) - 1)
    v = Fraction(f, 1 << 1074) if e == 0 else Fraction((1 << 52) | f, 1 << 52) * Fraction(2) ** (e - 1023)
    return -v if b >> 63 else v


def cvt_f64_to_h(b: int, rc: int, daz: bool) -> tuple[int, int]:
    """binary64 -> binary16: NaN keeps sign and the top 9 payload bits, quiet bit set."""
    s = b >> 63
    mag = b & ((1 << 63) - 1)
    if mag > 0x7FF0000000000000:
        return (s << 15) | 0x7E00 | ((b >> 42) & 0x1FF), 0 if b & (1 << 51) else IE
    if mag == 0x7FF0000000000000:
        return (s << 15) | INF, 0
    fl = 0
    if not mag >> 52 and mag:
        if daz:
            b &= 1 << 63
        else:
            fl = DE
    r, f = round16(f64_value(b), rc, s)
    return r, f | fl


def cvt_h_to_f64(h: int) -> tuple[int, int]:
    """binary16 -> binary64, exact; NaN: quiet bit set, payload shifted up."""
    s = h >> 15
    if is_nan(h):
        return (s << 63) | 0x7FF8000000000000 | ((h & 0x1FF) << 42), 0 if h & QUIET else IE
    if is_inf(h):
        return (s << 63) | 0x7FF0000000000000, 0
    v = value(h)
    f = np.array([float(v)], np.float64)              # exact: 11 significant bits, 2**-24 and up
    if not h & 0x7FFF:
        f = np.array([-0.0 if s else 0.0])
    assert Fraction(float(f[0])) == v
    return int(f.view(np.uint64)[0]), 0


# ---- drivers -------------------------------------------------------------------------------------

def _imm(mc: Machine) -> int:
    return mc.insn.ops[-1].value & 0xFF


def _map(fn, act, xs) -> tuple[np.ndarray, int]:
    out = np.zeros(len(xs), np.uint16)
    fl = 0
    for i, x in enumerate(xs.tolist()):
        if act is not None and not act[i]:
            continue
        r, f = fn(x)
        out[i] = r
        fl |= f
    return out, fl


def unary_p(mc: Machine, kind: str) -> None:
    """vrndscaleph / vgetexpph / vgetmantph / vreduceph: dst, src(, imm)."""
    env = vector.fpenv(mc)
    dst, src = mc.insn.ops[0], mc.insn.ops[1]
    n = dst.bits // 16
    act = mc.kmask(n)
    x = mc.load_vec(src, np.uint16, n, act)
    fn = _unary_fn(mc, kind, env)
    r, fl = _map(fn, act, x)
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


def _unary_fn(mc: Machine, kind: str, env):
    if kind == "getexp":
        return h_getexp
    imm = _imm(mc)
    return {"rndscale": lambda a: h_rndscale(a, imm, env.rc),
            "getmant": lambda a: h_getmant(a, imm),
            "reduce": lambda a: h_reduce(a, imm, env.rc)}[kind]


def unary_s(mc: Machine, kind: str) -> None:
    """Scalar forms: element 0 = OP(src2[0]), elements 1..7 from src1."""
    env = vector.fpenv(mc)
    dst, s1, s2 = mc.insn.ops[0], mc.insn.ops[1], mc.insn.ops[2]
    act = mc.kmask(1)
    b = vector.scalar_src(mc, s2, np.uint16)
    r, fl = _map(_unary_fn(mc, kind, env), act, b)
    vector.raise_fp(mc, env, fl)
    vector.scalar_result(mc, dst, s1, r[0], np.uint16)


for _k in ("rndscale", "getexp", "getmant", "reduce"):
    HANDLERS[f"v{_k}ph"] = (lambda k: lambda mc: unary_p(mc, k))(_k)
    HANDLERS[f"v{_k}sh"] = (lambda k: lambda mc: unary_s(mc, k))(_k)


def scalef(mc: Machine, kind: str) -> None:
    env = vector.fpenv(mc)
    dst, s1, s2 = mc.insn.ops
    if kind == "p":
        n = dst.bits // 16
        act = mc.kmask(n)
        a = mc.load_vec(s1, np.uint16, n, act)
        b = mc.load_vec(s2, np.uint16, n, act)
    else:
        act = mc.kmask(1)
        a = mc.vreg(s1, np.uint16, 1)
        b = vector.scalar_src(mc, s2, np.uint16)
    out = np.zeros(len(a), np.uint16)
    fl = 0
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        if act is not None and not act[i]:
            continue
        out[i], f = h_scalef(x, y, env.rc)
        fl |= f
    vector.raise_fp(mc, env, fl)
    if kind == "p":
        mc.writeback(dst, out)
    else:
        vector.scalar_result(mc, dst, s1, out[0], np.uint16)


HANDLERS["vscalefph"] = lambda mc: scalef(mc, "p")
HANDLERS["vscalefsh"] = lambda mc: scalef(mc, "s")


def fpclass(mc: Machine, kind: str) -> None:
    dst, src, imm = mc.insn.ops
    n = 1 if kind == "s" else _src_bits(mc, src, 0) // 16
    if not n:
        raise mc.unmodelled("source width")
    act = mc.kmask(n)
    x = mc.load_vec(src, np.uint16, n, act)
    r = np.array([h_fpclass(v, imm.value & 0xFF) for v in x.tolist()], bool)
    if act is not None:
        r &= act
    mc.kset(dst, bits_to_int(r))


HANDLERS["vfpclassph"] = lambda mc: fpclass(mc, "p")
HANDLERS["vfpclasssh"] = lambda mc: fpclass(mc, "s")


def comish(mc: Machine, signal_qnan: bool) -> None:
    a_op, b_op = mc.insn.ops
    env = vector.fpenv(mc)
    a = int(mc.vreg(a_op, np.uint16, 1)[0])
    b = int(vector.scalar_src(mc, b_op, np.uint16)[0])
    fl = 0
    if is_nan(a) or is_nan(b):
        f = ZF | PF | CF
        if signal_qnan or is_snan(a) or is_snan(b):
            fl |= IE
    else:
        va = value(a) if not is_inf(a) else Fraction(-1 if a & SIGN else 1) * 10 ** 9
        vb = value(b) if not is_inf(b) else Fraction(-1 if b & SIGN else 1) * 10 ** 9
        f = ZF if va == vb else (CF if va < vb else 0)
        if is_denormal(a) or is_denormal(b):
            fl |= DE
    vector.raise_fp(mc, env, fl)
    allf = CF | PF | AF | ZF | SF | OF
    mc.st.rflags = (mc.st.rflags & ~allf) | f


HANDLERS["vcomish"] = lambda mc: comish(mc, True)
HANDLERS["vucomish"] = lambda mc: comish(mc, False)


# ---- packed conversions with 64-bit lanes ----------------------------------------------------------

def cvt_q(mc: Machine, src_t: str, dst_t: str, truncate: bool = False) -> None:
    """h <-> d/q/uq packed: 8/4/2 lanes (the 64-bit side's count); the f16 side is the low
    quarter of a register (results: the rest of the xmm zeroed, bits 128 and up zeroed)."""
    env = vector.fpenv(mc)
    dst, src = mc.insn.ops
    if dst_t == "h":
        n = _src_bits(mc, src, 0) // 64
        if not n:
            raise mc.unmodelled("source width")
    else:
        n = dst.bits // 64
    act = mc.kmask(n)
    sdt = np.uint16 if src_t == "h" else np.uint64
    ddt = np.uint16 if dst_t == "h" else np.uint64
    x = mc.load_vec(src, sdt, n, act)
    if src_t == "h" and dst_t == "pd":
        fn = cvt_h_to_f64
    elif src_t == "pd":
        fn = lambda b: cvt_f64_to_h(b, env.rc, env.daz)                     # noqa: E731
    elif src_t == "h":
        fn = lambda h: cvt_h_to_int(h, env.rc, truncate, 64, dst_t == "qq")  # noqa: E731
    else:
        signed = src_t == "qq"
        fn = lambda v: cvt_int_to_h(v - ((v >> 63) << 64) if signed else v, env.rc)   # noqa: E731
    out = np.zeros(n, ddt)
    fl = 0
    for i, v in enumerate(x.tolist()):
        if act is not None and not act[i]:
            continue
        out[i], f = fn(int(v))
        fl |= f
    vector.raise_fp(mc, env, fl)
    if dst_t == "h":
        # n halves: elements n..7 of the xmm destination zeroed, merge/zero masking on 0..n-1
        vals = np.zeros(8, np.uint16)
        old = mc.vreg(dst, np.uint16, 8)
        for i in range(n):
            if act is None or act[i]:
                vals[i] = out[i]
            elif not mc.insn.zeroing:
                vals[i] = old[i]
        mc.write_vreg_bytes(Vec(dst.index, 128), vals.tobytes(), False)
    else:
        mc.writeback(dst, out)


for _mn, _args in {
    "vcvtph2pd": ("h", "pd"), "vcvtpd2ph": ("pd", "h"),
    "vcvtph2qq": ("h", "qq"), "vcvttph2qq": ("h", "qq", True), "vcvtph2uqq": ("h", "uqq"),
    "vcvttph2uqq": ("h", "uqq", True), "vcvtqq2ph": ("qq", "h"), "vcvtuqq2ph": ("uqq", "h"),
}.items():
    HANDLERS[_mn] = (lambda a: lambda mc: cvt_q(mc, *a))(_args)


# ---- scalar conversions ------------------------------------------------------------------------------

def cvt_scalar_fp(mc: Machine, kind: str) -> None:
    """vcvtsh2ss / vcvtsh2sd / vcvtss2sh / vcvtsd2sh: element 0 converted, the rest of the low
    128 bits from src1."""
    env = vector.fpenv(mc)
    dst, s1, s2 = mc.insn.ops
    sdt = {"sh2ss": np.uint16, "sh2sd": np.uint16, "ss2sh": np.uint32, "sd2sh": np.uint64}[kind]
    ddt = {"sh2ss": np.uint32, "sh2sd": np.uint64, "ss2sh": np.uint16, "sd2sh": np.uint16}[kind]
    x = int(vector.scalar_src(mc, s2, sdt)[0])
    r, fl = {"sh2ss": lambda: cvt_h_to_f32(x), "sh2sd": lambda: cvt_h_to_f64(x),
             "ss2sh": lambda: cvt_f32_to_h(x, env.rc, env.daz),
             "sd2sh": lambda: cvt_f64_to_h(x, env.rc, env.daz)}[kind]()
    m = mc.kmask(1)
    if m is None or m[0]:
        vector.raise_fp(mc, env, fl)
    vector.scalar_result(mc, dst, s1, r, ddt)


for _k in ("sh2ss", "sh2sd", "ss2sh", "sd2sh"):
    HANDLERS[f"vcvt{_k}"] = (lambda k: lambda mc: cvt_scalar_fp(mc, k))(_k)


def cvt_si2sh(mc: Machine, unsigned: bool) -> None:
    env = vector.fpenv(mc)
    dst, s1, s2 = mc.insn.ops
    bits = s2.bits if isinstance(s2, Gpr) else s2.size * 8
    v = mc.value(s2, bits)
    if not unsigned and v >> (bits - 1):
        v -= 1 << bits
    r, fl = cvt_int_to_h(v, env.rc)
    vector.raise_fp(mc, env, fl)
    vector.scalar_result(mc, dst, s1, r, np.uint16)


HANDLERS["vcvtsi2sh"] = lambda mc: cvt_si2sh(mc, False)
HANDLERS["vcvtusi2sh"] = lambda mc: cvt_si2sh(mc, True)


def cvt_sh2si(mc: Machine, truncate: bool, unsigned: bool) -> None:
    env = vector.fpenv(mc)
    dst, src = mc.insn.ops
    x = int(vector.scalar_src(mc, src, np.uint16)[0]) if not isinstance(src, Mem) else mc.value(src, 16)
    r, fl = cvt_h_to_int(x, env.rc, truncate, dst.bits, not unsigned)
    vector.raise_fp(mc, env, fl)
    mc.set(dst, r)


for _t in ("", "t"):
    for _u in ("", "u"):
        HANDLERS[f"vcvt{_t}sh2{_u}si"] = (lambda T, U: lambda mc: cvt_sh2si(mc, T, U))(_t == "t", _u == "u")


# ---- vfmaddsub / vfmsubadd (ph) ------------------------------------------------------------------

def fmaddsub(mc: Machine, order: str, subadd: bool) -> None:
    """vfmaddsub{132,213,231}ph: even lanes a*b - c, odd lanes a*b + c (vfmsubadd: the other way
    round), one rounding; operand roles as vector.FMA_ORDER; NaN priority a, b, c."""
    env = vector.fpenv(mc)
    ops = mc.insn.ops
    dst = ops[0]
    ia, ib, ic = vector.FMA_ORDER[order]
    n = dst.bits // 16
    act = mc.kmask(n)
    vals = [mc.load_vec(o, np.uint16, n, act).tolist() for o in ops]
    out = np.zeros(n, np.uint16)
    fl = 0
    for i in range(n):
        if act is not None and not act[i]:
            continue
        neg_add = (i % 2 == 0) != subadd
        out[i], f = h_fma(vals[ia][i], vals[ib][i], vals[ic][i], env.rc, False, neg_add)
        fl |= f
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, out)


for _o in ("132", "213", "231"):
    HANDLERS[f"vfmaddsub{_o}ph"] = (lambda o: lambda mc: fmaddsub(mc, o, False))(_o)
    HANDLERS[f"vfmsubadd{_o}ph"] = (lambda o: lambda mc: fmaddsub(mc, o, True))(_o)


# ---- complex multiply: vfmulcph / vfcmulcph ---------------------------------------------------------

def cmul(mc: Machine, conj: bool, acc: bool = False) -> None:
    """Intel's operation section, pair i = (re, im) = fp16[2i], fp16[2i+1], mask bit per pair:
    tmp.re = a.re * b.re, tmp.im = a.im * b.re (rounded, x86 NaN rules), then one FMA each:
    vfmulcph  re = tmp.re - a.im * b.im, im = tmp.im + a.re * b.im;
    vfcmulcph re = tmp.re + a.im * b.im, im = tmp.im - a.re * b.im.
    FMA NaN priority as everywhere on x86: the multiplicands in order, then the addend.
    vf[c]maddcph (acc): tmp = dest + a * (b.re, b.re), one FMA each (priority a, b.re, dest).
    A destination equal to either source register is #UD."""
    from .core import X86Fault
    env = vector.fpenv(mc)
    dst, s1, s2 = mc.insn.ops
    if any(isinstance(s, Vec) and s.index == dst.index for s in (s1, s2)):
        raise X86Fault("#UD", "complex FP16 destination overlaps a source")
    scalar = mc.insn.mnemonic.endswith("sh")
    n = 1 if scalar else dst.bits // 32
    act = mc.kmask(n)
    a = (mc.vreg(s1, np.uint32, 1) if scalar else mc.load_vec(s1, np.uint32, n, act)).view(np.uint16).tolist()
    b = (vector.scalar_src(mc, s2, np.uint32) if scalar else mc.load_vec(s2, np.uint32, n, act)).view(np.uint16).tolist()
    d = mc.vreg(dst, np.uint32, n).view(np.uint16).tolist() if acc else None
    out = np.zeros(2 * n, np.uint16)
    fl = 0
    for i in range(n):
        if act is not None and not act[i]:
            continue
        are, aim, bre, bim = a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1]
        if acc:
            t0, f0 = h_fma(are, bre, d[2 * i], env.rc, False, False)
            t1, f1 = h_fma(aim, bre, d[2 * i + 1], env.rc, False, False)
        else:
            t0, f0 = h_binary("mul", are, bre, env.rc)
            t1, f1 = h_binary("mul", aim, bre, env.rc)
        out[2 * i], f2 = h_fma(aim, bim, t0, env.rc, not conj, False)
        out[2 * i + 1], f3 = h_fma(are, bim, t1, env.rc, conj, False)
        fl |= f0 | f1 | f2 | f3
    vector.raise_fp(mc, env, fl)
    if scalar:                   # pair 0; bits 127:32 from src1, mask bit 0 (merge: dst's pair 0)
        vector.scalar_result(mc, dst, s1, out.view(np.uint32)[0], np.uint32)
    else:
        mc.writeback(dst, out.view(np.uint32))


HANDLERS["vfmulcph"] = lambda mc: cmul(mc, False)
HANDLERS["vfcmulcph"] = lambda mc: cmul(mc, True)
HANDLERS["vfmaddcph"] = lambda mc: cmul(mc, False, True)
HANDLERS["vfcmaddcph"] = lambda mc: cmul(mc, True, True)
HANDLERS["vfmulcsh"] = lambda mc: cmul(mc, False)
HANDLERS["vfcmulcsh"] = lambda mc: cmul(mc, True)
HANDLERS["vfmaddcsh"] = lambda mc: cmul(mc, False, True)
HANDLERS["vfcmaddcsh"] = lambda mc: cmul(mc, True, True)
