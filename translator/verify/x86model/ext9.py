"""AVX512-FP16 semantics (oneDNN's avx512_core_fp16 ISA): packed and scalar arithmetic
(vaddph .. vdivph, vsqrtph, vminph/vmaxph, the 12 FMA forms, their *sh scalars), compares into
k (vcmpph/vcmpsh), conversions (vcvtph2psx, vcvtps2phx, vcvtph2w/uw, vcvtw2ph/uw2ph,
vcvtph2dq/udq, vcvtdq2ph/udq2ph, truncating forms) and the vmovsh/vmovw moves.

No executor here runs FP16 (this host lacks it, bochs 2.7 raises #UD), so this model is the only
x86 side, and it is written to stand on its own, apart from ``fp.py``'s softfloat and from
numpy's float16: every finite result is formed as an exact ``Fraction`` and rounded once to
binary16 by :func:`round16` in the MXCSR.RC / {er} mode. ``tests/test_fp16.py`` cross-checks
it against numpy float16 (correctly rounded for + - * / sqrt under round-to-nearest, since float32
carries 24 >= 2*11 + 2 bits) and against ``fp.py``'s integer softfloat in every rounding mode.

x86 rules (Intel AVX512-FP16 spec / SDM operation sections):
* a NaN operand gives the first NaN operand in priority order, quieted (sign, payload kept);
  an invalid operation without NaN operands gives the default NaN 0xFE00;
* FMA priority: as the fp32 forms (vector.FMA_ORDER: the multiplicands, then the addend);
* vminph/vmaxph: the second source when either is NaN (SNaN not quieted) or both are zeros;
* denormal FP16 inputs and results are always honoured: MXCSR.DAZ and FTZ do not apply to FP16
  values (DAZ does apply to the fp32 inputs of vcvtps2phx / vcvtdq2ph's integer inputs none).
MXCSR status flags (IE DE ZE OE UE PE; UE: tiny after rounding with unbounded exponent, and inexact)
are computed but not compared against the Arm side (it has no FPSR), so treat them as unproved.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import isqrt

import numpy as np

from ...ir import Mem, Vec
from . import fp, vector
from .core import Machine, bits_to_int

HANDLERS: dict = {}

RN, RD, RU, RZ = fp.RN, fp.RD, fp.RU, fp.RZ
IE, DE, ZE, OE, UE, PE = fp.IE, fp.DE, fp.ZE, fp.OE, fp.UE, fp.PE
SIGN, EXP, FRAC, QUIET, INF, DNAN, MAXF = 0x8000, 0x7C00, 0x03FF, 0x0200, 0x7C00, 0xFE00, 0x7BFF


# ---- binary16 <-> exact values ------------------------------------------------------------------

def is_nan(b: int) -> bool:
    return (b & 0x7FFF) > INF


def is_snan(b: int) -> bool:
    return is_nan(b) and not b & QUIET


def is_inf(b: int) -> bool:
    return (b & 0x7FFF) == INF


def is_denormal(b: int) -> bool:
    return not b & EXP and bool(b & FRAC)


def value(b: int) -> Fraction:
    """Exact value of a finite binary16 pattern."""
    e, f = (b >> 10) & 0x1F, b & FRAC
    v = Fraction(f, 1 << 24) if e == 0 else Fraction(1024 + f, 1 << 10) * Fraction(2) ** (e - 15)
    return -v if b & SIGN else v


def round16(x: Fraction, rc: int, sign_of_zero: int = 0) -> tuple[int, int]:
    """Round the exact value x once to binary16 in mode rc; returns (bits, flags).

    Every binary16 value is N * 2**q with q >= -24: for |x| in [2**e, 2**(e+1)), e >= -14, the
    quantum is 2**(e-10); below 2**-14 it is 2**-24 (subnormals). The encoding of N * 2**q is
    ((q + 24) << 10) + N for N in [0, 2048] (N = 2048 is the next binade, N < 1024 only at
    q = -24), so rounding is one integer rounding of x / 2**q."""
    if x == 0:
        return sign_of_zero << 15, 0
    s = int(x < 0)
    a = -x if s else x
    e = a.numerator.bit_length() - a.denominator.bit_length()      # 2**e <= a < 2**(e+2)
    if Fraction(2) ** e > a:
        e -= 1
    if Fraction(2) ** (e + 1) <= a:
        e += 1
    def rint(n: Fraction) -> tuple[int, Fraction]:
        N = n.numerator // n.denominator
        rem = n - N
        if rem and {RN: rem > Fraction(1, 2) or (rem == Fraction(1, 2) and N & 1),
                    RZ: False, RU: not s, RD: bool(s)}[rc]:
            N += 1
        return N, rem

    q = max(e, -14) - 10
    N, rem = rint(a / Fraction(2) ** q)
    flags = PE if rem else 0
    # x86 detects tininess after rounding with an unbounded exponent: a value just below 2**-14
    # that rounds up to 2**-14 at full precision is not tiny
    tiny = e < -14 and not (e == -15 and rint(a / Fraction(2) ** (e - 10))[0] == 2048)
    bits = ((q + 24) << 10) + N
    if bits >= INF:                                              # overflow
        to_inf = rc == RN or (rc == RU and not s) or (rc == RD and s)
        return (s << 15) | (INF if to_inf else MAXF), OE | PE
    if rem and tiny:
        flags |= UE
    return (s << 15) | bits, flags


def _nan_result(*ops: int) -> tuple[int, int] | None:
    """First NaN operand quieted (IE if any operand is an SNaN), else None."""
    nan = next((b for b in ops if is_nan(b)), None)
    if nan is None:
        return None
    return nan | QUIET, IE if any(is_snan(b) for b in ops) else 0


def _de(*ops: int) -> int:
    return DE if any(is_denormal(b) for b in ops) else 0


@lru_cache(maxsize=1 << 18)
def h_binary(op: str, a: int, b: int, rc: int) -> tuple[int, int]:
    """add / sub / mul / div of two binary16 patterns."""
    n = _nan_result(a, b)
    if n is not None:
        return n
    de = _de(a, b)                  # a denormal operand, unless the operation is invalid or x/0
    if op == "sub":
        b ^= SIGN
        op = "add"
    sa, sb = a >> 15, b >> 15
    ia, ib = is_inf(a), is_inf(b)
    za, zb = not a & 0x7FFF, not b & 0x7FFF
    s = sa ^ sb
    if op == "add":
        if ia or ib:
            if ia and ib and sa != sb:
                return DNAN, IE
            return (a if ia else b), de
        r, f = round16(value(a) + value(b), rc, sa if sa == sb else int(rc == RD))
        return r, f | de
    if op == "mul":
        if ia or ib:
            if za or zb:
                return DNAN, IE
            return (s << 15) | INF, de
        r, f = round16(value(a) * value(b), rc, s)
        return r, f | de
    # div
    if ia:
        return (DNAN, IE) if ib else ((s << 15) | INF, de)
    if ib:
        return s << 15, de
    if zb:
        return (DNAN, IE) if za else ((s << 15) | INF, ZE)
    r, f = round16(value(a) / value(b), rc, s)
    return r, f | de


@lru_cache(maxsize=1 << 16)
def h_sqrt(a: int, rc: int) -> tuple[int, int]:
    n = _nan_result(a)
    if n is not None:
        return n
    if not a & 0x7FFF:
        return a, 0
    if a & SIGN:
        return DNAN, IE
    if is_inf(a):
        return a, 0
    v = value(a)                                   # num / 2**d, num odd or d == 0
    num, d = v.numerator, v.denominator.bit_length() - 1
    if d & 1:
        num, d = num << 1, d + 1
    k = 48                                         # sqrt(v) ~ r / 2**(k + d/2), r >= 2**36
    r = isqrt(num << (2 * k))
    exact = r * r == num << (2 * k)
    # r < true < r + 1 when inexact: r + 1/2 lies in the same rounding interval (the quantum is
    # >= 2**20 units of r), so it rounds the same and marks the result inexact
    x = Fraction(2 * r + (0 if exact else 1), 1 << (k + d // 2 + 1))
    res, f = round16(x, rc)
    return res, f | _de(a)


@lru_cache(maxsize=1 << 18)
def h_fma(a: int, b: int, c: int, rc: int, neg_prod: bool, neg_add: bool) -> tuple[int, int]:
    """(+/-)(a*b) (+/-) c with one rounding; NaN priority a, b, c; negation never touches a NaN."""
    n = _nan_result(a, b, c)
    if n is not None:
        return n
    sp = (a >> 15) ^ (b >> 15) ^ int(neg_prod)
    if neg_add:
        c ^= SIGN
    sc = c >> 15
    ia, ib, ic = is_inf(a), is_inf(b), is_inf(c)
    za, zb = not a & 0x7FFF, not b & 0x7FFF
    if ia or ib:
        if za or zb or (ic and sc != sp):
            return DNAN, IE
        return (sp << 15) | INF, _de(a, b, c)
    if ic:
        return c, _de(a, b, c)
    p = abs(value(a) * value(b))
    if sp:
        p = -p
    x = p + value(c)
    if x == 0:
        if p == 0:                  # both terms zero: their common sign, else + (- in RD)
            zero_sign = sp if sp == sc else int(rc == RD)
        else:                       # nonzero terms that cancel exactly
            zero_sign = int(rc == RD)
        return zero_sign << 15, _de(a, b, c)
    r, f = round16(x, rc)
    return r, f | _de(a, b, c)


def h_maxmin(is_max: bool, a: int, b: int) -> tuple[int, int]:
    """x86 MAX/MIN: (a > b) ? a : b (resp. <); NaN or both zeros: b, unchanged."""
    fl = IE if (is_nan(a) or is_nan(b)) else _de(a, b)
    if is_nan(a) or is_nan(b):
        return b, fl
    if not a & 0x7FFF and not b & 0x7FFF:
        return b, fl
    va = value(a) if not is_inf(a) else (Fraction(-1 if a & SIGN else 1) * 10 ** 9)
    vb = value(b) if not is_inf(b) else (Fraction(-1 if b & SIGN else 1) * 10 ** 9)
    return (a if (va > vb if is_max else va < vb) else b), fl


# ---- conversions ----------------------------------------------------------------------------------

def f32_value(b: int) -> Fraction:
    e, f = (b >> 23) & 0xFF, b & 0x7FFFFF
    v = Fraction(f, 1 << 149) if e == 0 else Fraction((1 << 23) | f, 1 << 23) * Fraction(2) ** (e - 127)
    return -v if b >> 31 else v


@lru_cache(maxsize=1 << 16)
def cvt_f32_to_h(b: int, rc: int, daz: bool) -> tuple[int, int]:
    """binary32 -> binary16: NaN keeps sign and the top 9 payload bits, quiet bit set."""
    s = b >> 31
    if (b & 0x7FFFFFFF) > 0x7F800000:
        return (s << 15) | 0x7E00 | ((b >> 13) & 0x1FF), 0 if b & 0x400000 else IE
    if (b & 0x7FFFFFFF) == 0x7F800000:
        return (s << 15) | INF, 0
    fl = 0
    if not b & 0x7F800000 and b & 0x7FFFFF:
        if daz:
            b &= 0x80000000
        else:
            fl = DE
    r, f = round16(f32_value(b), rc, s)
    return r, f | fl


def cvt_h_to_f32(h: int) -> tuple[int, int]:
    """binary16 -> binary32, exact; NaN: quiet bit set, payload shifted up."""
    s = h >> 15
    if is_nan(h):
        return (s << 31) | 0x7FC00000 | ((h & 0x1FF) << 13), 0 if h & QUIET else IE
    if is_inf(h):
        return (s << 31) | 0x7F800000, 0
    if not h & 0x7FFF:
        return s << 31, 0
    v = abs(value(h))
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    m = v / Fraction(2) ** e                        # in [1, 2), 11 bits: exact in 24
    frac = int((m - 1) * (1 << 23))
    return (s << 31) | ((e + 127) << 23) | frac, 0


@lru_cache(maxsize=1 << 16)
def cvt_h_to_int(h: int, rc: int, truncate: bool, ibits: int, signed: bool) -> tuple[int, int]:
    """binary16 -> integer; NaN, Inf and out-of-range -> the integer indefinite (signed: the
    most negative value, unsigned: all ones)."""
    indefinite = (1 << (ibits - 1)) if signed else (1 << ibits) - 1
    if is_nan(h) or is_inf(h):
        return indefinite, IE
    v = value(h)
    fl_ = v.numerator // v.denominator              # floor
    rem = v - fl_
    mode = RZ if truncate else rc
    if rem == 0:
        q = fl_
    elif mode == RN:
        q = fl_ + int(rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl_ & 1))
    elif mode == RD:
        q = fl_
    elif mode == RU:
        q = fl_ + 1
    else:
        q = fl_ + 1 if v < 0 else fl_
    lo, hi = (-(1 << (ibits - 1)), (1 << (ibits - 1)) - 1) if signed else (0, (1 << ibits) - 1)
    if not lo <= q <= hi:
        return indefinite, IE
    return q & ((1 << ibits) - 1), PE if rem else 0


def cvt_int_to_h(v: int, rc: int) -> tuple[int, int]:
    return round16(Fraction(v), rc)


# ---- handlers ---------------------------------------------------------------------------------

def _env(mc: Machine) -> fp.FpEnv:
    return vector.fpenv(mc)        # RC from {er} or MXCSR; unmasked exceptions are unmodelled


def _src_bits(mc: Machine, src, default: int) -> int:
    if isinstance(src, Vec):
        return src.bits
    for tag, bits in (("XMMM128", 128), ("YMMM256", 256), ("ZMMM512", 512)):
        if tag in (mc.insn.code or ""):
            return bits
    return default


def _lanes(fn, act: np.ndarray | None, *cols: np.ndarray, dtype=np.uint16) -> tuple[np.ndarray, int]:
    """fn(*lane values) -> (bits, flags) on the active lanes (inactive lanes: 0, no flags)."""
    n = len(cols[0])
    out = np.zeros(n, dtype=dtype)
    flags = 0
    lists = [c.tolist() for c in cols]
    for i in range(n):
        if act is not None and not act[i]:
            continue
        r, f = fn(*(l[i] for l in lists))
        out[i] = r
        flags |= f
    return out, flags


def _three(mc: Machine):
    return mc.insn.ops[0], mc.insn.ops[1], mc.insn.ops[2]


def arith(mc: Machine, op: str, kind: str) -> None:
    """v{add,sub,mul,div,min,max}{ph,sh}."""
    env = _env(mc)
    dst, s1, s2 = _three(mc)
    if op in ("min", "max"):
        fn = lambda a, b: h_maxmin(op == "max", a, b)        # noqa: E731
    else:
        fn = lambda a, b: h_binary(op, a, b, env.rc)          # noqa: E731
    if kind == "p":
        n = dst.bits // 16
        act = mc.kmask(n)
        a = mc.load_vec(s1, np.uint16, n, act)
        b = mc.load_vec(s2, np.uint16, n, act)
        r, fl = _lanes(fn, act, a, b)
        vector.raise_fp(mc, env, fl)
        mc.writeback(dst, r)
    else:
        act = mc.kmask(1)
        a = mc.vreg(s1, np.uint16, 1)
        b = vector.scalar_src(mc, s2, np.uint16)
        r, fl = _lanes(fn, act, a, b)
        vector.raise_fp(mc, env, fl)
        vector.scalar_result(mc, dst, s1, r[0], np.uint16)


for _op in ("add", "sub", "mul", "div", "min", "max"):
    for _k in ("p", "s"):
        HANDLERS[f"v{_op}{_k}h"] = (lambda o, k: lambda mc: arith(mc, o, k))(_op, _k)


def sqrt(mc: Machine, kind: str) -> None:
    env = _env(mc)
    ops = mc.insn.ops
    fn = lambda a: h_sqrt(a, env.rc)                           # noqa: E731
    if kind == "p":
        dst, src = ops[0], ops[1]
        n = dst.bits // 16
        act = mc.kmask(n)
        r, fl = _lanes(fn, act, mc.load_vec(src, np.uint16, n, act))
        vector.raise_fp(mc, env, fl)
        mc.writeback(dst, r)
    else:
        dst, s1, s2 = _three(mc)
        r, fl = _lanes(fn, mc.kmask(1), vector.scalar_src(mc, s2, np.uint16))
        vector.raise_fp(mc, env, fl)
        vector.scalar_result(mc, dst, s1, r[0], np.uint16)


HANDLERS["vsqrtph"] = lambda mc: sqrt(mc, "p")
HANDLERS["vsqrtsh"] = lambda mc: sqrt(mc, "s")


def fma(mc: Machine, neg: bool, sub: bool, order: str, kind: str) -> None:
    """vf[n]m{add,sub}{132,213,231}{ph,sh}: see vector.FMA_ORDER for the operand roles."""
    env = _env(mc)
    ops = mc.insn.ops
    dst = ops[0]
    ia, ib, ic = vector.FMA_ORDER[order]
    if kind == "p":
        n = dst.bits // 16
        act = mc.kmask(n)
        vals = [mc.load_vec(o, np.uint16, n, act) for o in ops]
    else:
        act = mc.kmask(1)
        vals = [mc.vreg(ops[0], np.uint16, 1), mc.vreg(ops[1], np.uint16, 1),
                vector.scalar_src(mc, ops[2], np.uint16)]
    fn = lambda a, b, c: h_fma(a, b, c, env.rc, neg, sub)      # noqa: E731
    r, fl = _lanes(fn, act, vals[ia], vals[ib], vals[ic])
    vector.raise_fp(mc, env, fl)
    if kind == "p":
        mc.writeback(dst, r)
    else:
        vector.scalar_result(mc, dst, dst, r[0], np.uint16)


for _n in ("", "n"):
    for _o in ("add", "sub"):
        for _w in ("132", "213", "231"):
            for _k in ("p", "s"):
                HANDLERS[f"vf{_n}m{_o}{_w}{_k}h"] = (lambda n, o, w, k: lambda mc: fma(mc, n == "n", o == "sub", w, k))(
                    _n, _o, _w, _k)


def cmp(mc: Machine, kind: str) -> None:
    """vcmpph / vcmpsh k{k2}, src1, src2, imm: predicate imm8[4:0] (the cmpps table), ANDed with
    the write-mask; bits above the element count zeroed."""
    env = _env(mc)
    kd, s1, s2, imm = mc.insn.ops
    n = s1.bits // 16 if kind == "p" else 1
    act = mc.kmask(n)
    a = mc.load_vec(s1, np.uint16, n, act) if kind == "p" else mc.vreg(s1, np.uint16, 1)
    b = mc.load_vec(s2, np.uint16, n, act) if kind == "p" else vector.scalar_src(mc, s2, np.uint16)
    rel = fp.CMP_PREDICATES[imm.value & 15][1]
    out = np.zeros(n, dtype=bool)
    fl = 0
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())):
        un = is_nan(x) or is_nan(y)
        if un:
            r = bool(rel & 8)
        else:
            vx = value(x) if not is_inf(x) else Fraction(-1 if x & SIGN else 1) * 10 ** 9
            vy = value(y) if not is_inf(y) else Fraction(-1 if y & SIGN else 1) * 10 ** 9
            r = bool((rel & 1 and vx < vy) or (rel & 2 and vx == vy) or (rel & 4 and vx > vy))
        out[i] = r
        if act is None or act[i]:
            if is_snan(x) or is_snan(y) or (un and fp.cmp_signals_qnan(imm.value)):
                fl |= IE
            elif not un:
                fl |= _de(x, y)
    if act is not None:
        out &= act
    vector.raise_fp(mc, env, fl)
    mc.kset(kd, bits_to_int(out))


HANDLERS["vcmpph"] = lambda mc: cmp(mc, "p")
HANDLERS["vcmpsh"] = lambda mc: cmp(mc, "s")


def cvt(mc: Machine, src_t: str, dst_t: str, truncate: bool = False) -> None:
    """Packed conversions between h and s/w/d/uw/ud lanes; the lane count is that of the wider
    side (the narrower side is half (or a quarter of) a register, zero-extended above)."""
    env = _env(mc)
    dst, src = mc.insn.ops
    es = {"h": 2, "w": 2, "uw": 2, "s": 4, "d": 4, "ud": 4}
    if es[dst_t] >= es[src_t]:
        n = dst.bits // 8 // es[dst_t]
    else:
        n = _src_bits(mc, src, 0) // 8 // es[src_t]
    act = mc.kmask(n)
    sdt = np.uint16 if es[src_t] == 2 else np.uint32
    ddt = np.uint16 if es[dst_t] == 2 else np.uint32
    x = mc.load_vec(src, sdt, n, act)
    if src_t == "h" and dst_t == "s":
        fn = cvt_h_to_f32
    elif src_t == "s":
        fn = lambda b: cvt_f32_to_h(b, env.rc, env.daz)          # noqa: E731
    elif src_t == "h":
        ib = 16 if dst_t in ("w", "uw") else 32
        fn = lambda h: cvt_h_to_int(h, env.rc, truncate, ib, not dst_t.startswith("u"))   # noqa: E731
    else:
        bits = 16 if src_t in ("w", "uw") else 32
        signed = not src_t.startswith("u")
        fn = lambda v: cvt_int_to_h(v - ((v >> (bits - 1)) << bits) if signed else v, env.rc)  # noqa: E731
    r, fl = _lanes(fn, act, x, dtype=ddt)
    vector.raise_fp(mc, env, fl)
    mc.writeback(dst, r)


for _mn, _args in {
    "vcvtph2psx": ("h", "s"), "vcvtps2phx": ("s", "h"),
    "vcvtph2w": ("h", "w"), "vcvttph2w": ("h", "w", True), "vcvtph2uw": ("h", "uw"),
    "vcvttph2uw": ("h", "uw", True), "vcvtw2ph": ("w", "h"), "vcvtuw2ph": ("uw", "h"),
    "vcvtph2dq": ("h", "d"), "vcvttph2dq": ("h", "d", True), "vcvtph2udq": ("h", "ud"),
    "vcvttph2udq": ("h", "ud", True), "vcvtdq2ph": ("d", "h"), "vcvtudq2ph": ("ud", "h"),
}.items():
    HANDLERS[_mn] = (lambda a: lambda mc: cvt(mc, *a))(_args)


def movsh(mc: Machine) -> None:
    """vmovsh: load m16 (element 0, the rest of the register zeroed), store element 0, or the
    reg form [src2[0], src1[1..7]]; merge/zero masking on element 0."""
    ops = mc.insn.ops
    dt = np.uint16
    if isinstance(ops[0], Mem):
        m = mc.kmask(1)
        if m is None or m[0]:
            mc.write(mc.ea(ops[0]), mc.vreg(ops[1], dt, 1).tobytes())
        return
    dst = ops[0]
    if isinstance(ops[1], Mem):
        v = vector.scalar_src(mc, ops[1], dt)
        vals = np.zeros(8, dtype=dt)
        m = mc.kmask(1)
        vals[0] = v[0] if (m is None or m[0]) else (0 if mc.insn.zeroing else mc.vreg(dst, dt, 1)[0])
        mc.write_vreg_bytes(Vec(dst.index, 128), vals.tobytes(), False)
        return
    dst, s1, s2 = ops
    vector.scalar_result(mc, dst, s1, mc.vreg(s2, dt, 1)[0], dt)


def movw(mc: Machine) -> None:
    """vmovw xmm, r32/m16: word 0 = the low 16 bits, the rest of the register zeroed;
    vmovw r32/m16, xmm: word 0 (zero-extended into r32)."""
    dst, src = mc.insn.ops
    if isinstance(dst, Vec):
        v = mc.value(src, 16) & 0xFFFF if isinstance(src, Mem) else mc.get(src) & 0xFFFF
        mc.write_vreg_bytes(Vec(dst.index, 128), v.to_bytes(2, "little") + bytes(14), False)
        return
    w = int(mc.vreg(src, np.uint16, 1)[0])
    if isinstance(dst, Mem):
        mc.write_int(dst, w, 2)
    else:
        mc.set(dst, w)


HANDLERS["vmovsh"] = movsh
HANDLERS["vmovw"] = movw
