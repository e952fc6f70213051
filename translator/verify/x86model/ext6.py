"""AVX-512 FP special functions: ``vscalef{ps,pd,ss,sd}``, ``vgetmant{ps,pd,ss,sd}``,
``vfpclass{ps,pd,ss,sd}`` (into an opmask), ``vrange{ps,pd,ss,sd}`` and ``vreduce{ps,pd,ss,sd}``.

Bit-exact per the Intel SDM operation sections and special-case tables, each cross-checked against
this host's CPU (``tests/test_fp_special.py`` and ``python -m translator conformance``), MXCSR status
flags, DAZ and FTZ included:

* scalef: ``src1 * 2**floor(src2)`` rounded once (MXCSR.RC or ``{er}``); a QNaN src1 with src2 =
  +-Inf gives +Inf / +0, an SNaN src1 QNaN(src1); 0 * 2**+Inf and Inf * 2**-Inf give the default
  NaN; a finite src1 with src2 = +-Inf gives an exact +-Inf / +-0 in every rounding mode.
* getmant: the significand with the exponent the interval (imm8[1:0]) asks for; sign control
  imm8[3:2]; +-0 / +-Inf give +-1.0; negative inputs give the default NaN when imm8[3] is set.
* fpclass: k bit = OR of the categories imm8 selects (QNaN, +0, -0, +Inf, -Inf, denormal,
  negative finite, SNaN); the write-mask ANDs in; no flags; under DAZ a denormal is a zero.
* range: min / max / min-abs / max-abs (imm8[1:0]) with sign control imm8[3:2]; an SNaN operand
  gives QNaN(it), a QNaN operand gives the other operand.
* reduce: ``src - 2**-M * round(2**M * src)`` with M = imm8[7:4], rounding imm8[1:0] or MXCSR.RC
  (imm8[2]), imm8[3] suppresses PE.

Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from ...ir import Vec
from . import fp
from .core import Machine, bits_to_int
from .fp import DE, IE, PE, RD, RN, RU, RZ, UE, F32, F64, Fmt, FpEnv
from .vector import fpenv, nelem, raise_fp, scalar_result, scalar_src

HANDLERS: dict = {}
FMT = {"s": F32, "d": F64}

_SRC_BITS = {"XMMM128": 128, "YMMM256": 256, "ZMMM512": 512}


def _width(mc: Machine, src) -> int:
    """Vector width of a packed source (register, else from the iced code name)."""
    if isinstance(src, Vec):
        return src.bits
    for tag, bits in _SRC_BITS.items():
        if tag in (mc.insn.code or ""):
            return bits
    raise mc.unmodelled("source width")


def _is_inf(b: int, F: Fmt) -> bool:
    return (b & F.abs_mask) == F.inf


def _sign(b: int, F: Fmt) -> int:
    return b >> (F.bits - 1)


def _floor_int(b: int, F: Fmt) -> int:
    """floor() of a finite value as a Python int."""
    s, m, e = fp.unpack(b, F)
    if m == 0:
        return 0
    if e >= 0:
        v = m << e
        return -v if s else v
    q, r = divmod(m, 1 << -e)
    return -(q + (r != 0)) if s else q


# ---- vscalef -----------------------------------------------------------------------------------

def x_scalef(a: int, b: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    """SDM SCALE(src1, src2) and its special-case table (VSCALEFPS/PD)."""
    if fp.is_nan(a, F):
        fl = IE if fp.is_snan(a, F) or fp.is_snan(b, F) else 0
        if not fp.is_snan(a, F) and _is_inf(b, F):
            return (0 if _sign(b, F) else F.inf), fl          # QNaN * 2**+Inf = +Inf, * 2**-Inf = +0
        return a | F.qbit, fl
    if fp.is_nan(b, F):
        return b | F.qbit, IE if fp.is_snan(b, F) else 0
    fl = DE if fp.is_denormal(a, F) and not env.daz else 0      # DE for a denormal src1 only
    a, b = fp.daz(a, F, env), fp.daz(b, F, env)
    za, ia = (a & F.abs_mask) == 0, _is_inf(a, F)
    if _is_inf(b, F):
        up = not _sign(b, F)
        if (za and up) or (ia and not up):
            return F.default_nan, fl | IE
        if za or ia:
            return a, fl
        return (a & F.sign) | (F.inf if up else 0), fl
    if za or ia:
        return a, fl
    n = max(min(_floor_int(b, F), 4 * F.bias + 4 * F.p), -4 * F.bias - 4 * F.p)
    s, m, e = fp.unpack(a, F)
    r, f2 = fp.round_pack(s, m, e + n, F, env)
    return r, fl | f2


# ---- vgetmant ----------------------------------------------------------------------------------

def x_getmant(a: int, imm: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    """SDM GetNormalizedMantissa: interval imm8[1:0], sign control imm8[3:2]."""
    interv, sctl = imm & 3, (imm >> 2) & 3
    if fp.is_nan(a, F):
        return a | F.qbit, IE if fp.is_snan(a, F) else 0
    s = _sign(a, F)
    rs = 0 if sctl & 1 else s
    fb = F.p - 1
    a = fp.daz(a, F, env)
    if (a & F.abs_mask) == 0:                     # +-0 -> +-1.0, even a -0 under imm8[3]
        return (rs << (F.bits - 1)) | (F.bias << fb), 0
    if s and sctl & 2:                            # negative (-Inf too) -> default NaN, no DE
        return F.default_nan, IE
    if _is_inf(a, F):
        return (rs << (F.bits - 1)) | (F.bias << fb), 0
    fl = DE if fp.is_denormal(a, F) else 0
    ex = (a & F.exp_mask) >> fb
    sig = a & F.frac_mask
    if ex == 0:                                   # normalise the denormal
        sh = fb - sig.bit_length() + 1
        sig = (sig << sh) & F.frac_mask
        ex = 1 - sh
    if interv == 0:
        ne = F.bias
    elif interv == 1:
        ne = F.bias - ((ex - F.bias) & 1)
    elif interv == 2:
        ne = F.bias - 1
    else:
        ne = F.bias - ((sig >> (fb - 1)) & 1)
    return (rs << (F.bits - 1)) | (ne << fb) | sig, fl


# ---- vfpclass ----------------------------------------------------------------------------------

def fpclass(x: np.ndarray, imm: int, F: Fmt) -> np.ndarray:
    """SDM CheckFPClass: bool per element."""
    x = x.astype(F.utype)
    a = x & F.utype(F.abs_mask)
    neg = (x >> F.utype(F.bits - 1)) != 0
    inf = F.utype(F.inf)
    qnan = a >= F.utype(F.inf | F.qbit)
    snan = (a > inf) & ~qnan
    zero = a == 0
    den = (a != 0) & (a <= F.utype(F.frac_mask))
    cats = [qnan, zero & ~neg, zero & neg, (a == inf) & ~neg, (a == inf) & neg, den,
            neg & (a < inf) & ~zero, snan]
    r = np.zeros(len(x), bool)
    for i, c in enumerate(cats):
        if imm >> i & 1:
            r |= c
    return r


# ---- vrange ------------------------------------------------------------------------------------

def x_range(a: int, b: int, imm: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    """SDM RangeSP/RangeDP: op imm8[1:0] (min, max, min |.|, max |.|), sign control imm8[3:2]."""
    if fp.is_snan(a, F):
        return a | F.qbit, IE
    if fp.is_snan(b, F):
        return b | F.qbit, IE
    fl = 0
    qa, qb = fp.is_nan(a, F), fp.is_nan(b, F)
    if fp.is_denormal(a, F):
        if env.daz:
            a &= F.sign
        elif not qb:
            fl |= DE
    if fp.is_denormal(b, F):
        if env.daz:
            b &= F.sign
        elif not qa:
            fl |= DE
    op, sctl = imm & 3, (imm >> 2) & 3
    if qb:
        t = a
    elif qa:
        t = b
    else:
        def key(v):                     # total order on non-NaN values, -0 < +0
            mag = v & F.abs_mask
            return -mag - 1 if _sign(v, F) else mag
        if op == 0:
            t = a if key(a) <= key(b) else b
        elif op == 1:
            t = a if key(a) >= key(b) else b
        else:
            ma, mb = a & F.abs_mask, b & F.abs_mask
            if ma == mb:
                t = a if (key(a) <= key(b)) == (op == 2) else b
            elif op == 2:
                t = a if ma < mb else b
            else:
                t = a if ma > mb else b
    mag = t & F.abs_mask
    if sctl == 0:                       # sign of src1
        return (a & F.sign) | mag, fl
    if sctl == 1:                       # sign of the compare result
        return t, fl
    if sctl == 2:
        return mag, fl
    return F.sign | mag, fl


# ---- vreduce -----------------------------------------------------------------------------------

_X86_RC = {0: RN, 1: RD, 2: RU, 3: RZ}


def x_reduce(a: int, imm: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    """SDM ReduceArgument: src - 2**-M * ROUND(2**M * src), M = imm8[7:4]; ROUND and the
    subtraction round per imm8[1:0], or MXCSR.RC when imm8[2] is set. +-Inf gives +0.
    Flags (checked on the CPU): IE for an SNaN; PE when the subtraction is inexact or FTZ flushes
    its tiny result (never UE, never DE), unless imm8[3] (SPE) is set."""
    M = imm >> 4
    rc = env.rc if imm & 4 else _X86_RC[imm & 3]
    if fp.is_nan(a, F):
        return a | F.qbit, IE if fp.is_snan(a, F) else 0
    a = fp.daz(a, F, env)
    if _is_inf(a, F):
        return 0, 0
    s, m, e = fp.unpack(a, F)
    zero = int(rc == RD) << (F.bits - 1)          # an exact zero difference: -0 only rounding down
    if m == 0:
        return zero, 0
    # q = ROUND(|src| * 2**M) to an integer (the sign is s)
    es = e + M
    if es >= 0:
        q = m << es
    else:
        q, rem = divmod(m, 1 << -es)
        q = fp._round_int(s, q, rem, 1 << (-es - 1), rc)
    # |src| - q * 2**-M, exactly, as D * 2**lo
    lo = min(e, -M)
    D = (m << (e - lo)) - (q << (-M - lo))
    if D == 0:
        return zero, 0
    r, f2 = fp.round_pack(s ^ int(D < 0), abs(D), lo, F, FpEnv(rc, env.daz, env.ftz, env.sae))
    return r, (PE if f2 & (PE | UE) and not imm & 8 else 0)


# ---- drivers -----------------------------------------------------------------------------------

def _lanes(fn, F: Fmt, env: FpEnv, act, *ops, **kw) -> tuple[np.ndarray, int]:
    n = len(ops[0])
    out = np.zeros(n, F.utype)
    flags = 0
    for i in range(n):
        r, f = fn(*(int(o[i]) for o in ops), F=F, env=env, **kw)
        out[i] = r
        if act is None or act[i]:
            flags |= f
    return out, flags


def _imm(mc: Machine) -> int:
    return mc.insn.ops[-1].value & 0xFF


def packed(mc: Machine, t: str, kind: str) -> None:
    F = FMT[t]
    env = fpenv(mc)
    ops = mc.insn.ops
    dst = ops[0]
    if kind in ("scalef", "range"):
        s1, s2 = ops[1], ops[2]
        n = nelem(dst, F.bits // 8)
        act = mc.kmask(n)
        a = mc.load_vec(s1, F.utype, n)
        b = mc.load_vec(s2, F.utype, n, act)
        if kind == "scalef":
            r, fl = _lanes(lambda x, y, F, env: x_scalef(x, y, F, env), F, env, act, a, b)
        else:
            imm = _imm(mc)
            r, fl = _lanes(lambda x, y, F, env: x_range(x, y, imm, F, env), F, env, act, a, b)
    else:
        src = ops[1]
        n = nelem(dst, F.bits // 8)
        act = mc.kmask(n)
        a = mc.load_vec(src, F.utype, n, act)
        imm = _imm(mc)
        f = x_getmant if kind == "getmant" else x_reduce
        r, fl = _lanes(lambda x, F, env: f(x, imm, F, env), F, env, act, a)
    raise_fp(mc, env, fl)
    mc.writeback(dst, r)


def scalar(mc: Machine, t: str, kind: str) -> None:
    """x86 scalar form: element 0 = OP(src1[0], src2[0]) (getmant/reduce: OP(src2[0])), the
    rest of the low 128 bits from src1."""
    F = FMT[t]
    env = fpenv(mc)
    ops = mc.insn.ops
    dst, s1, s2 = ops[0], ops[1], ops[2]
    act = mc.kmask(1)
    b = scalar_src(mc, s2, F.utype)
    a = mc.vreg(s1, F.utype, 1)
    if kind == "scalef":
        r, fl = x_scalef(int(a[0]), int(b[0]), F, env)
    elif kind == "range":
        r, fl = x_range(int(a[0]), int(b[0]), _imm(mc), F, env)
    elif kind == "getmant":
        r, fl = x_getmant(int(b[0]), _imm(mc), F, env)
    else:
        r, fl = x_reduce(int(b[0]), _imm(mc), F, env)
    if act is None or act[0]:
        raise_fp(mc, env, fl)
    scalar_result(mc, dst, s1, r, F.utype)


def fpclass_k(mc: Machine, t: str, kind: str) -> None:
    F = FMT[t]
    dst, src, imm = mc.insn.ops
    n = 1 if kind == "s" else _width(mc, src) // F.bits
    act = mc.kmask(n)
    x = mc.load_vec(src, F.utype, n, act)
    if fpenv(mc).daz:                      # DAZ: denormals are classified as zeros
        x = fp.v_daz(x, F, fpenv(mc))
    r = fpclass(x, imm.value & 0xFF, F)
    if act is not None:
        r &= act
    mc.kset(dst, bits_to_int(r))


for _t in "sd":
    for _kind in ("scalef", "getmant", "range", "reduce"):
        HANDLERS[f"v{_kind}p{_t}"] = (lambda t, k: (lambda mc: packed(mc, t, k)))(_t, _kind)
        HANDLERS[f"v{_kind}s{_t}"] = (lambda t, k: (lambda mc: scalar(mc, t, k)))(_t, _kind)
    HANDLERS[f"vfpclassp{_t}"] = (lambda t: (lambda mc: fpclass_k(mc, t, "p")))(_t)
    HANDLERS[f"vfpclasss{_t}"] = (lambda t: (lambda mc: fpclass_k(mc, t, "s")))(_t)
