"""IEEE binary32/binary64 arithmetic with x86 (SSE/AVX/AVX-512) semantics, bit-exact.

Two implementations of every operation:

* a scalar *exact* path on Python ints (``x_add``, ``x_mul``, ``x_div``, ``x_sqrt``, ``x_fma``,
  ``x_cvt_i2f``): the exact result is formed as an integer times a power of two and rounded once by
  :func:`round_pack` in any MXCSR rounding mode, with gradual underflow, FTZ and overflow handled;
* a vectorised numpy *fast* path, used only where it is provably identical: round-to-nearest-even
  with FTZ off (numpy's float32/float64 + - * / sqrt are correctly rounded IEEE operations with
  gradual underflow; float32 FMA is done as an exact float64 product plus a round-to-odd float64
  sum, which rounds correctly to float32 because 53 >= 2*24 + 2).

x86 rules that are not IEEE-754 choices (SDM Vol. 1 4.8.3.5 / Table 4-7, checked on hardware):
* NaN operand -> the first NaN operand in operand priority order, quieted (sign/payload kept);
  SNaN has no precedence over QNaN.
* Invalid operation with no NaN operand -> the default NaN (QNaN indefinite) 0xFFC00000 /
  0xFFF8000000000000.
* DAZ (MXCSR bit 6) flushes denormal inputs to signed zero before anything else.
* FTZ (bit 15, with UM masked) flushes a *tiny* result to signed zero. Tininess is detected after
  rounding with unbounded exponent (SDM 4.9.1.5), so an exact result just below 2^emin that rounds
  to 2^emin at full precision is not tiny, while an exact tiny (subnormal) result is flushed.

Rounding modes: 0 = RN (nearest even), 1 = RD (toward -inf), 2 = RU (toward +inf), 3 = RZ.

MXCSR status flags (bits 0-5: IE DE ZE OE UE PE): the exact path computes all six. The fast path
computes IE, DE, ZE and OE exactly and does not compute UE or PE. Instructions with {sae} or
embedded rounding do not update the flags (as hardware). The comparison against SVE ignores them.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

import numpy as np

RN, RD, RU, RZ = 0, 1, 2, 3
ROUNDING_NAMES = {"rn": RN, "rd": RD, "ru": RU, "rz": RZ}

IE, DE, ZE, OE, UE, PE = 1, 2, 4, 8, 16, 32

# Tests set this to run every operation on the exact path (to cross-check the fast path).
FORCE_EXACT = False


@dataclass(frozen=True)
class Fmt:
    bits: int
    p: int                  # precision, hidden bit included
    ebits: int
    ftype: type
    utype: type
    itype: type

    @property
    def bias(self) -> int:
        return (1 << (self.ebits - 1)) - 1

    @property
    def emin(self) -> int:
        return 1 - self.bias

    @property
    def emax(self) -> int:
        return self.bias

    @property
    def sign(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def abs_mask(self) -> int:
        return self.sign - 1

    @property
    def exp_mask(self) -> int:
        return ((1 << self.ebits) - 1) << (self.p - 1)

    @property
    def frac_mask(self) -> int:
        return (1 << (self.p - 1)) - 1

    @property
    def qbit(self) -> int:
        return 1 << (self.p - 2)

    @property
    def inf(self) -> int:
        return self.exp_mask

    @property
    def default_nan(self) -> int:
        """x86 QNaN floating-point indefinite: sign set, quiet bit set, payload 0."""
        return self.sign | self.exp_mask | self.qbit

    @property
    def max_finite(self) -> int:
        return self.exp_mask - 1


F32 = Fmt(32, 24, 8, np.float32, np.uint32, np.int32)
F64 = Fmt(64, 53, 11, np.float64, np.uint64, np.int64)


@dataclass(frozen=True)
class FpEnv:
    """The parts of MXCSR (or of an embedded-rounding override) that change results."""
    rc: int = RN
    daz: bool = False
    ftz: bool = False
    sae: bool = False       # exceptions suppressed: status flags are not updated

    @classmethod
    def from_mxcsr(cls, mxcsr: int, rounding: str | None = None, sae: bool = False) -> "FpEnv":
        rc = ROUNDING_NAMES[rounding] if rounding else (mxcsr >> 13) & 3
        # FTZ only acts while underflow is masked (UM, bit 11); an unmasked underflow would trap.
        ftz = bool(mxcsr & 0x8000) and bool(mxcsr & 0x800)
        return cls(rc, bool(mxcsr & 0x40), ftz, bool(sae or rounding))

    @property
    def fast(self) -> bool:
        return self.rc == RN and not self.ftz and not FORCE_EXACT


# --------------------------------------------------------------------------------------------
# scalar exact path

def is_nan(b: int, F: Fmt) -> bool:
    return (b & F.abs_mask) > F.exp_mask


def is_snan(b: int, F: Fmt) -> bool:
    return is_nan(b, F) and not b & F.qbit


def is_denormal(b: int, F: Fmt) -> bool:
    return not b & F.exp_mask and bool(b & F.frac_mask)


def daz(b: int, F: Fmt, env: FpEnv) -> int:
    return b & F.sign if env.daz and is_denormal(b, F) else b


def unpack(b: int, F: Fmt) -> tuple[int, int, int]:
    """Finite b -> (sign, m, e) with |value| = m * 2**e."""
    s = b >> (F.bits - 1)
    ex = (b & F.exp_mask) >> (F.p - 1)
    fr = b & F.frac_mask
    if ex == 0:
        return s, fr, F.emin - (F.p - 1)
    return s, fr | (1 << (F.p - 1)), ex - F.bias - (F.p - 1)


def _round_int(s: int, q: int, rem: int, half: int, rc: int) -> int:
    """Round q + rem/(2*half) (rem < 2*half) to an integer in mode rc; s is the sign."""
    if rem == 0:
        return q
    if rc == RN:
        return q + (rem > half or (rem == half and q & 1))
    if rc == RZ:
        return q
    return q + ((rc == RU) != bool(s))


def round_pack(s: int, m: int, e: int, F: Fmt, env: FpEnv, sticky: bool = False) -> tuple[int, int]:
    """Round (-1)**s * m * 2**e (m > 0; ``sticky``: the true value is a little above m) to F.

    Returns (bits, flags)."""
    if sticky:                      # m < true < m+1: m + 1/2 rounds the same once bits are dropped
        m, e = 2 * m + 1, e - 1
    p, emin = F.p, F.emin
    n = m.bit_length()
    top = e + n - 1                 # exponent of the leading bit
    # tininess after rounding with unbounded exponent
    tiny = top < emin - 1
    if top == emin - 1:
        sh = n - p
        if sh > 0:
            q = _round_int(s, m >> sh, m & ((1 << sh) - 1), 1 << (sh - 1), env.rc)
            tiny = q < (1 << p)
        else:
            tiny = True
    if tiny and env.ftz:
        return s << (F.bits - 1), UE | PE
    lsb = max(top - (p - 1), emin - (p - 1))
    sh = lsb - e
    if sh > 0:
        rem = m & ((1 << sh) - 1)
        q = _round_int(s, m >> sh, rem, 1 << (sh - 1), env.rc)
        inexact = rem != 0
    else:
        q = m << -sh
        inexact = False
    if q >> p:                      # carry out of the significand
        q >>= 1
        lsb += 1
    flags = PE if inexact else 0
    if tiny and inexact:
        flags |= UE
    if q >> (p - 1):                # normal
        bexp = lsb + (p - 1) + F.bias
        if bexp >= (1 << F.ebits) - 1:
            to_inf = env.rc == RN or (env.rc == RU and not s) or (env.rc == RD and s)
            return (s << (F.bits - 1)) | (F.inf if to_inf else F.max_finite), OE | PE
        return (s << (F.bits - 1)) | (bexp << (p - 1)) | (q & F.frac_mask), flags
    return (s << (F.bits - 1)) | q, flags


def _zero_sum_sign(sa: int, sb: int, env: FpEnv) -> int:
    """Sign of an exact zero x + y: the common sign if both are zeros of that sign, else
    + except in round-down."""
    return sa if sa == sb else int(env.rc == RD)


def _nan_pick(F: Fmt, *ops: int) -> int | None:
    for b in ops:
        if is_nan(b, F):
            return b | F.qbit
    return None


def _in_flags(F: Fmt, env: FpEnv, *ops: int) -> int:
    """IE for an SNaN input; DE for a denormal input when no input is a NaN (a NaN operand takes
    precedence over the denormal exception) and DAZ is off."""
    if any(is_nan(b, F) for b in ops):
        return IE if any(is_snan(b, F) for b in ops) else 0
    if not env.daz and any(is_denormal(b, F) for b in ops):
        return DE
    return 0


def _add_finite(sa, ma, ea, sb, mb, eb, F, env):
    e = min(ea, eb)
    v = (-ma if sa else ma) << (ea - e)
    v += (-mb if sb else mb) << (eb - e)
    if v == 0:
        return _zero_sum_sign(sa, sb, env) << (F.bits - 1), 0
    return round_pack(int(v < 0), abs(v), e, F, env)


def x_add(a: int, b: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    a, b = daz(a, F, env), daz(b, F, env)
    fl = _in_flags(F, env, a, b)
    n = _nan_pick(F, a, b)
    if n is not None:
        return n, fl
    ai, bi = (a & F.abs_mask) == F.inf, (b & F.abs_mask) == F.inf
    if ai or bi:
        if ai and bi and (a ^ b) & F.sign:
            return F.default_nan, fl | IE
        return (a if ai else b), fl
    r, f = _add_finite(*unpack(a, F), *unpack(b, F), F, env)
    return r, fl | f


def x_sub(a: int, b: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    b2 = daz(b, F, env)
    if is_nan(b2, F):
        # the NaN itself propagates unchanged (no sign flip); keep a's priority
        a2 = daz(a, F, env)
        fl = _in_flags(F, env, a2, b2)
        return _nan_pick(F, a2, b2), fl
    return x_add(a, b2 ^ F.sign, F, env)


def x_mul(a: int, b: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    a, b = daz(a, F, env), daz(b, F, env)
    fl = _in_flags(F, env, a, b)
    n = _nan_pick(F, a, b)
    if n is not None:
        return n, fl
    s = (a ^ b) & F.sign
    aa, ba = a & F.abs_mask, b & F.abs_mask
    if aa == F.inf or ba == F.inf:
        if aa == 0 or ba == 0:
            return F.default_nan, fl | IE
        return s | F.inf, fl
    if aa == 0 or ba == 0:
        return s, fl
    _, ma, ea = unpack(a, F)
    _, mb, eb = unpack(b, F)
    r, f = round_pack(int(bool(s)), ma * mb, ea + eb, F, env)
    return r, fl | f


def x_div(a: int, b: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    a, b = daz(a, F, env), daz(b, F, env)
    fl = _in_flags(F, env, a, b)
    n = _nan_pick(F, a, b)
    if n is not None:
        return n, fl
    s = (a ^ b) & F.sign
    aa, ba = a & F.abs_mask, b & F.abs_mask
    if aa == F.inf:
        return (F.default_nan, fl | IE) if ba == F.inf else (s | F.inf, fl)
    if ba == F.inf:
        return s, fl
    if ba == 0:                         # x/0 raises ZE only, even for a denormal x
        return (F.default_nan, fl | IE) if aa == 0 else (s | F.inf, (fl & ~DE) | ZE)
    if aa == 0:
        return s, fl
    _, ma, ea = unpack(a, F)
    _, mb, eb = unpack(b, F)
    k = max(0, F.p + 3 + mb.bit_length() - ma.bit_length())
    q, r = divmod(ma << k, mb)
    res, f = round_pack(int(bool(s)), q, ea - eb - k, F, env, sticky=r != 0)
    return res, fl | f


def x_sqrt(a: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    a = daz(a, F, env)
    fl = _in_flags(F, env, a)
    if is_nan(a, F):
        return a | F.qbit, fl
    if (a & F.abs_mask) == 0:
        return a, fl
    if a & F.sign:
        return F.default_nan, (fl & ~DE) | IE          # invalid takes precedence over DE
    if a == F.inf:
        return a, fl
    _, m, e = unpack(a, F)
    if e & 1:
        m, e = m << 1, e - 1
    k = max(0, F.p + 3 - (m.bit_length() + 1) // 2)
    m <<= 2 * k
    r = isqrt(m)
    res, f = round_pack(0, r, (e - 2 * k) // 2, F, env, sticky=r * r != m)
    return res, fl | f


def x_fma(a: int, b: int, c: int, F: Fmt, env: FpEnv, neg_prod: bool = False,
          neg_add: bool = False) -> tuple[int, int]:
    """(+/-)(a*b) (+/-) c with one rounding. NaN priority: a, b, c (see vector.py for how the
    132/213/231 forms map their operands onto a, b, c). Negation never touches a NaN."""
    a, b, c = daz(a, F, env), daz(b, F, env), daz(c, F, env)
    fl = _in_flags(F, env, a, b, c)
    n = _nan_pick(F, a, b, c)
    if n is not None:
        return n, fl
    sp = ((a ^ b) & F.sign) ^ (F.sign if neg_prod else 0)
    if neg_add:
        c ^= F.sign
    aa, ba, ca = a & F.abs_mask, b & F.abs_mask, c & F.abs_mask
    if aa == F.inf or ba == F.inf:
        if aa == 0 or ba == 0 or (ca == F.inf and (c & F.sign) != sp):
            return F.default_nan, (fl & ~DE) | IE      # invalid takes precedence over DE
        return sp | F.inf, fl
    if ca == F.inf:
        return c, fl
    spb = int(bool(sp))
    if aa == 0 or ba == 0:
        if ca == 0:
            return _zero_sum_sign(spb, c >> (F.bits - 1), env) << (F.bits - 1), fl
        cs, cm, ce = unpack(c, F)    # exact, but a tiny c is still flushed by FTZ
        r, f = round_pack(cs, cm, ce, F, env)
        return r, fl | f
    _, ma, ea = unpack(a, F)
    _, mb, eb = unpack(b, F)
    if ca == 0:
        r, f = round_pack(spb, ma * mb, ea + eb, F, env)
        return r, fl | f
    r, f = _add_finite(spb, ma * mb, ea + eb, *unpack(c, F), F, env)
    return r, fl | f


def x_cvt_i2f(v: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    if v == 0:
        return 0, 0
    return round_pack(int(v < 0), abs(v), 0, F, env)


def x_cvt_f2i(a: int, F: Fmt, env: FpEnv, ibits: int, truncate: bool) -> tuple[int, int]:
    """Float -> signed integer of ``ibits``; out of range / NaN / inf -> integer indefinite."""
    a = daz(a, F, env)
    fl = _in_flags(F, env, a) & ~DE                   # conversions do not signal DE
    indefinite = 1 << (ibits - 1)
    if (a & F.abs_mask) >= F.inf:
        return indefinite, fl | IE
    s, m, e = unpack(a, F)
    rc = RZ if truncate else env.rc
    if e >= 0:
        q, inexact = m << e, False
    else:
        sh = -e
        rem = m & ((1 << sh) - 1)
        q = _round_int(s, m >> sh, rem, 1 << (sh - 1), rc)
        inexact = rem != 0
    v = -q if s else q
    if not -(1 << (ibits - 1)) <= v < (1 << (ibits - 1)):
        return indefinite, fl | IE
    return v & ((1 << ibits) - 1), fl | (PE if inexact else 0)


# --------------------------------------------------------------------------------------------
# vectorised helpers on unsigned bit-pattern arrays

def v_isnan(u: np.ndarray, F: Fmt) -> np.ndarray:
    return (u & F.utype(F.abs_mask)) > F.utype(F.exp_mask)


def v_issnan(u: np.ndarray, F: Fmt) -> np.ndarray:
    return v_isnan(u, F) & ((u & F.utype(F.qbit)) == 0)


def v_isdenormal(u: np.ndarray, F: Fmt) -> np.ndarray:
    return ((u & F.utype(F.exp_mask)) == 0) & ((u & F.utype(F.frac_mask)) != 0)


def v_daz(u: np.ndarray, F: Fmt, env: FpEnv) -> np.ndarray:
    if not env.daz:
        return u
    return np.where(v_isdenormal(u, F), u & F.utype(F.sign), u)


def v_in_flags(F: Fmt, env: FpEnv, active: np.ndarray | None, *ops: np.ndarray,
               de_ok: np.ndarray | None = None) -> int:
    """IE for SNaN inputs, DE for denormal inputs in lanes without NaN (when DAZ is off), over
    the active lanes; ``de_ok`` excludes more lanes from DE (invalid operations, x/0)."""
    f = 0
    act = active if active is not None else True
    nan = np.zeros(len(ops[0]), dtype=bool)
    sn = nan.copy()
    for u in ops:
        nan |= v_isnan(u, F)
        sn |= v_issnan(u, F)
    if (sn & act).any():
        f |= IE
    if not env.daz:
        dn = np.zeros(len(ops[0]), dtype=bool)
        for u in ops:
            dn |= v_isdenormal(u, F)
        if de_ok is not None:
            dn &= de_ok
        if (dn & ~nan & act).any():
            f |= DE
    return f


def scalar_map(fn, F: Fmt, env: FpEnv, *ops: np.ndarray, **kw) -> tuple[np.ndarray, int]:
    """Apply a scalar exact function lane by lane."""
    out = np.empty(len(ops[0]), dtype=F.utype)
    flags = 0
    for i, args in enumerate(zip(*(o.tolist() for o in ops))):
        out[i], f = fn(*args, F, env, **kw)
        flags |= f
    return out, flags


def _nan_fixup(r: np.ndarray, F: Fmt, ops: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN lanes of r by x86's choice: first NaN operand quieted, else default NaN.
    Returns (fixed, invalid-lanes)."""
    q = F.utype(F.qbit)
    rn = v_isnan(r, F)
    invalid = rn.copy()
    out = np.where(rn, F.utype(F.default_nan), r)
    for u in reversed(ops):
        un = v_isnan(u, F)
        out = np.where(un, u | q, out)
        invalid &= ~un
    return out, invalid


_NP_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
_X_BIN = {"add": x_add, "sub": x_sub, "mul": x_mul, "div": x_div}


def fp_binary(op: str, a: np.ndarray, b: np.ndarray, F: Fmt, env: FpEnv,
              active: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Element-wise add/sub/mul/div on bit patterns; returns (bits, mxcsr status flags)."""
    if not env.fast:
        return _masked_exact(_X_BIN[op], F, env, active, a, b)
    a, b = v_daz(a, F, env), v_daz(b, F, env)
    with np.errstate(all="ignore"):
        r = _NP_BIN[op](a.view(F.ftype), b.view(F.ftype)).view(F.utype)
    r, invalid = _nan_fixup(r, F, (a, b))
    de_ok = ~invalid
    if op == "div":                     # x/0 raises ZE only, even for a denormal x
        de_ok &= (b & F.utype(F.abs_mask)) != 0
    flags = v_in_flags(F, env, active, a, b, de_ok=de_ok)
    flags |= _lane_flags(F, r, active, invalid, a, b, op)
    return r, flags


def _lane_flags(F, r, active, invalid, a, b, op) -> int:
    f = 0
    act = active if active is not None else True
    if (invalid & act).any():
        f |= IE
    inf = F.utype(F.inf)
    absm = F.utype(F.abs_mask)
    fin_in = ((a & absm) < inf) & ((b & absm) < inf)
    if op == "div":
        zd = fin_in & ((b & absm) == 0) & ((a & absm) != 0) & act
        if zd.any():
            f |= ZE
        fin_in &= (b & absm) != 0
    if ((r & absm) == inf)[fin_in & act].any():
        f |= OE | PE
    return f


def _masked_exact(fn, F, env, active, *ops, **kw):
    if active is None or active.all():
        return scalar_map(fn, F, env, *ops, **kw)
    out = ops[0].copy()
    idx = np.nonzero(active)[0]
    sub, flags = scalar_map(fn, F, env, *(o[idx] for o in ops), **kw)
    out[idx] = sub
    return out, flags


def fp_sqrt(a: np.ndarray, F: Fmt, env: FpEnv, active=None) -> tuple[np.ndarray, int]:
    if not env.fast:
        return _masked_exact(x_sqrt, F, env, active, a)
    a = v_daz(a, F, env)
    with np.errstate(all="ignore"):
        r = np.sqrt(a.view(F.ftype)).view(F.utype)
    r, invalid = _nan_fixup(r, F, (a,))
    flags = v_in_flags(F, env, active, a, de_ok=~invalid)
    if (invalid & (active if active is not None else True)).any():
        flags |= IE
    return r, flags


def fp_fma(a, b, c, F: Fmt, env: FpEnv, neg_prod=False, neg_add=False, active=None):
    """(+/-)(a*b) (+/-) c, single rounding; NaN priority a, b, c."""
    if not (env.fast and F is F32):
        return _masked_exact(x_fma, F, env, active, a, b, c, neg_prod=neg_prod, neg_add=neg_add)
    a, b, c = v_daz(a, F, env), v_daz(b, F, env), v_daz(c, F, env)
    sgn = F.utype(F.sign)
    with np.errstate(all="ignore"):
        pa = a.view(np.float32).astype(np.float64)
        pb = b.view(np.float32).astype(np.float64)
        pc = (c ^ sgn if neg_add else c).view(np.float32).astype(np.float64)
        prod = pa * pb                       # exact: 24+24 bits, exponent in range
        if neg_prod:
            prod = -prod
        s = prod + pc
        # TwoSum error term (exact whenever s is finite)
        bb = s - prod
        err = (prod - (s - bb)) + (pc - bb)
        su = s.view(np.uint64)
        fix = (err != 0) & np.isfinite(s) & ((su & np.uint64(1)) == 0)
        if fix.any():                        # round to odd: step toward the exact value
            toward = np.where(err > 0, np.inf, -np.inf)
            s = np.where(fix, np.nextafter(s, toward), s)
        r = s.astype(np.float32).view(np.uint32)
    r, invalid = _nan_fixup(r, F, (a, b, c))
    act = active if active is not None else True
    flags = v_in_flags(F, env, active, a, b, c, de_ok=~invalid)
    if (invalid & act).any():
        flags |= IE
    fin = np.isfinite(pa) & np.isfinite(pb) & np.isfinite(pc)
    if ((r & np.uint32(F.abs_mask)) == np.uint32(F.inf))[fin & act].any():
        flags |= OE | PE
    return r, flags


def fp_maxmin(is_max: bool, a: np.ndarray, b: np.ndarray, F: Fmt, env: FpEnv,
              active=None) -> tuple[np.ndarray, int]:
    """x86 MAX/MIN: dest = (a > b) ? a : b (resp. a < b): the second operand is returned when
    either is NaN (SNaN unchanged, not quieted) or both are zeros. DAZ-flushed inputs are what
    is returned (checked on hardware)."""
    a, b = v_daz(a, F, env), v_daz(b, F, env)
    fa, fb = a.view(F.ftype), b.view(F.ftype)
    with np.errstate(all="ignore"):
        pick_a = fa > fb if is_max else fa < fb
    r = np.where(pick_a, a, b)
    flags = v_in_flags(F, env, active, a, b) & DE
    nan = v_isnan(a, F) | v_isnan(b, F)
    if (nan & (active if active is not None else True)).any():
        flags |= IE                          # MAX/MIN signal invalid on QNaN too
    return r, flags


# comparison predicates (imm8[4:0]): bit set for LT, EQ, GT, UNORDERED; signalling on QNaN
_LT, _EQ, _GT, _UN = 1, 2, 4, 8
CMP_PREDICATES = [
    ("eq_oq", _EQ), ("lt_os", _LT), ("le_os", _LT | _EQ), ("unord_q", _UN),
    ("neq_uq", _LT | _GT | _UN), ("nlt_us", _EQ | _GT | _UN), ("nle_us", _GT | _UN),
    ("ord_q", _LT | _EQ | _GT), ("eq_uq", _EQ | _UN), ("nge_us", _LT | _UN),
    ("ngt_us", _LT | _EQ | _UN), ("false_oq", 0), ("neq_oq", _LT | _GT), ("ge_os", _GT | _EQ),
    ("gt_os", _GT), ("true_uq", _LT | _EQ | _GT | _UN),
]
# 16..31 are the same relations with the signalling behaviour flipped
_SIGNALLING = {i: name.endswith("s") for i, (name, _) in enumerate(CMP_PREDICATES)}


def cmp_signals_qnan(imm: int) -> bool:
    s = _SIGNALLING[imm & 15]
    return (not s) if imm & 16 else s


def fp_compare(imm: int, a: np.ndarray, b: np.ndarray, F: Fmt, env: FpEnv,
               active=None) -> tuple[np.ndarray, int]:
    """CMPPS/CMPPD predicate imm8[4:0] -> boolean array, flags."""
    a, b = v_daz(a, F, env), v_daz(b, F, env)
    fa, fb = a.view(F.ftype), b.view(F.ftype)
    rel = CMP_PREDICATES[imm & 15][1]
    with np.errstate(all="ignore"):
        un = np.isnan(fa) | np.isnan(fb)
        out = np.zeros(len(a), dtype=bool)
        if rel & _LT:
            out |= fa < fb
        if rel & _EQ:
            out |= fa == fb
        if rel & _GT:
            out |= fa > fb
        if rel & _UN:
            out |= un
    act = active if active is not None else True
    flags = v_in_flags(F, env, active, a, b)
    if cmp_signals_qnan(imm) and (un & act).any():
        flags |= IE
    return out, flags


def fp_cvt_f2i(a: np.ndarray, F: Fmt, env: FpEnv, truncate: bool, ibits: int = 32,
               active=None) -> tuple[np.ndarray, int]:
    """CVT(T)PS2DQ & co: float -> signed int, integer indefinite (0x80000000..) when out of range
    or NaN. Rounding a float to an integral float is exact in every mode, so this is vectorised."""
    a = v_daz(a, F, env)
    flags = v_in_flags(F, env, active, a) & ~DE        # conversions do not signal DE
    f = a.view(F.ftype)
    rc = RZ if truncate else env.rc
    with np.errstate(all="ignore"):
        r = {RN: np.rint, RD: np.floor, RU: np.ceil, RZ: np.trunc}[rc](f)
        lo, hi = -float(1 << (ibits - 1)), float(1 << (ibits - 1))
        ok = (r >= lo) & (r < hi)           # False for NaN
        itype = np.int32 if ibits == 32 else np.int64
        utype = np.uint32 if ibits == 32 else np.uint64
        out = np.where(ok, r, 0).astype(itype).view(utype)
    out = np.where(ok, out, utype(1 << (ibits - 1)))
    act = active if active is not None else True
    if (~ok & act).any():
        flags |= IE
    if ((r != f) & ok & act).any():
        flags |= PE
    return out, flags


def fp_cvt_i2f(v: np.ndarray, F: Fmt, env: FpEnv, active=None) -> tuple[np.ndarray, int]:
    """CVTDQ2PS & co: signed int array -> float bits, rounded per env.rc."""
    if env.rc != RN:
        out = np.empty(len(v), dtype=F.utype)
        flags = 0
        for i, x in enumerate(v.tolist()):
            out[i], f = x_cvt_i2f(x, F, env)
            flags |= f
        return out, flags
    f = v.astype(F.ftype)
    flags = PE if (f.astype(np.float64) != v.astype(np.float64)).any() and F is F32 else 0
    return f.view(F.utype), flags
