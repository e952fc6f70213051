"""AVX-512F reciprocal estimates: ``vrcp14ps/pd/ss/sd`` and ``vrsqrt14ps/pd/ss/sd``, bit-exact.

The hardware function, established on this host's CPU (AMD, AVX-512) over every f32 input under
every DAZ/FTZ/RC setting, and over 5.5e8 f64 inputs per setting, and equal to Intel's (the 64K-entry
tables that bochs took from Intel SDE give the same results for every normal mantissa):

- The fraction of the result depends on the top 16 fraction bits of the (normalised) input for
  rcp14, on the top 15 and the parity of the unbiased exponent for rsqrt14. It is piecewise linear:
  64 segments (6 index bits) of 1024 steps ``j`` each, ``t = (128*a - B*j) >> 9``, with an 18-bit
  base ``a`` and a 10-bit slope ``B`` per segment (tables below, one 32-bit word ``B << 22 | a``
  each). The result is ``1.t * 2^k`` (16 fraction bits, the low 7 of f32 / 36 of f64 are zero).
- rcp14: ``k = -1 - e`` (unbiased), exactly ``2^-e`` for a power of two (zero fraction; an f64
  whose top 23 fraction bits are zero but not the rest uses the table). Denormal inputs are
  normalised (DAZ: treated as zero). Results below the normal range are exact denormals (the hidden
  bit shifted in; FTZ flushes them to signed zero); results above it (inputs <= 2^-128 / 2^-1024)
  are infinity. +-0 -> +-Inf, +-Inf -> +-0, NaN -> the input quieted.
- rsqrt14: ``k = -1 - floor(e / 2)``, exactly ``2^(-e/2)`` for an even ``e`` and a zero fraction.
  +0 -> +Inf, -0 -> -Inf, +Inf -> +0, any other negative (-Inf, a negative denormal without DAZ)
  -> the default NaN (sign set), NaN -> the input quieted.
- MXCSR.RC is ignored; no MXCSR flag is ever set (not IE for an SNaN, not DE for a denormal).

bochs 2.7 differs in two places (its defects, not Intel's): it drops the hidden bit of denormal
rcp14 results, and it returns 1.0 * 2^k for rsqrt14 of 2^(odd), where the table is used.
"""
from __future__ import annotations

import numpy as np

from . import vector
from .core import Machine

HANDLERS: dict = {}

# (B << 22) | a per segment: segment = top 6 fraction bits.
RCP14 = (
    0xfc43fff2, 0xf443e06c, 0xed43c1e4, 0xe643a440, 0xdf438776, 0xd9436b8e, 0xd2c35066, 0xcd43360c,
    0xc7431c64, 0xc2430378, 0xbcc2eb30, 0xb7c2d394, 0xb342bc98, 0xaec2a636, 0xaa429062, 0xa5c27b18,
    0xa1c2665e, 0x9dc25222, 0x9a423e6c, 0x96422b26, 0x92c2185a, 0x8f4205fe, 0x8c41f414, 0x88c1e28a,
    0x85c1d16c, 0x82c1c0b0, 0x8041b05a, 0x7d41a054, 0x7ac190ae, 0x77c1815a, 0x7541725c, 0x72c163ae,
    0x70c15554, 0x6e41473e, 0x6c413978, 0x69c12bf0, 0x67c11eb4, 0x65c111ba, 0x63c10500, 0x61c0f886,
    0x6040ec50, 0x5e40e04a, 0x5c40d482, 0x5ac0c8f6, 0x5940bda2, 0x5740b27a, 0x55c0a78c, 0x54409cd0,
    0x52c09246, 0x514087ea, 0x4fc07dbc, 0x4ec073c4, 0x4d4069ec, 0x4bc06042, 0x4ac056c8, 0x49404d6e,
    0x48404444, 0x47403b3e, 0x45c0325a, 0x44c029a6, 0x43c02112, 0x42c0189e, 0x41c0104a, 0x40c00816,
)
# rsqrt14: entries 0..31 for an even unbiased exponent, 32..63 for an odd one; segment = top 5
# fraction bits.
RSQRT14 = (
    0xfa43ffe9, 0xeec3e0a1, 0xe4c3c2c5, 0xdb43a632, 0xd2438ace, 0xc9c37087, 0xc1c3574d, 0xbac33f11,
    0xb3c327ba, 0xad431141, 0xa742fb97, 0xa1c2e6b4, 0x9c42d282, 0x96c2befa, 0x9242ac1f, 0x8dc299db,
    0x89428827, 0x85427703, 0x8142665f, 0x7d425638, 0x79c2468d, 0x76423753, 0x73422888, 0x70421a23,
    0x6d420c1f, 0x6a41fe7b, 0x67c1f136, 0x64c1e43e, 0x6241d79f, 0x6041cb56, 0x5dc1bf4f, 0x5bc1b39a,
    0xb0c1a815, 0xa8c191f9, 0xa1c17cdc, 0x9ac168a4, 0x94c1554c, 0x8ec142b7, 0x894130e1, 0x83c11fb9,
    0x7f410f3d, 0x7ac0ff5b, 0x7640f005, 0x7240e13d, 0x6e40d2f5, 0x6ac0c52a, 0x6740b7d1, 0x6440aaeb,
    0x61409e67, 0x5e409243, 0x5b40867f, 0x58c07b19, 0x56407003, 0x53c0653e, 0x51405ac4, 0x4f405098,
    0x4d4046b2, 0x4b403d0d, 0x494033a7, 0x47402a7e, 0x45c02195, 0x43c018dd, 0x42401060, 0x40c00816,
)

_FMT = {4: (8, 23), 8: (11, 52)}            # element bytes -> exponent bits, fraction bits


def _segment(w: int, j: int) -> int:
    return ((w & 0x3FFFF) * 128 - (w >> 22) * j) >> 9


def _unpack(b: int, nbytes: int):
    eb, fb = _FMT[nbytes]
    emax = (1 << eb) - 1
    return eb, fb, emax, (1 << (eb - 1)) - 1, (b >> (eb + fb)) << (eb + fb), (b >> fb) & emax, b & ((1 << fb) - 1)


def rcp14(b: int, nbytes: int, daz: bool, ftz: bool) -> int:
    """The rcp14 result bits of the input bits ``b`` (an f32 or f64 element)."""
    eb, fb, emax, bias, sign, e, m = _unpack(b, nbytes)
    if e == emax:
        return b | (1 << (fb - 1)) if m else sign
    if e == 0:
        if m == 0 or daz:
            return sign | (emax << fb)
        sh = fb + 1 - m.bit_length()
        m, e = (m << sh) & ((1 << fb) - 1), 1 - sh
    if m == 0:
        re, f = 2 * bias - e, 0
    else:
        re, f = 2 * bias - 1 - e, _segment(RCP14[m >> (fb - 6)], (m >> (fb - 16)) & 1023) << (fb - 16)
    if re >= emax:
        return sign | (emax << fb)
    if re <= 0:
        if ftz:
            return sign
        f, re = (f | (1 << fb)) >> (1 - re), 0
    return sign | (re << fb) | f


def rsqrt14(b: int, nbytes: int, daz: bool, ftz: bool) -> int:
    """The rsqrt14 result bits of the input bits ``b``."""
    eb, fb, emax, bias, sign, e, m = _unpack(b, nbytes)
    default_nan = ((1 << (eb + 2)) - 1) << (fb - 1)          # sign, exponent all ones, quiet bit
    if e == emax:
        return b | (1 << (fb - 1)) if m else (default_nan if sign else 0)
    if e == 0:
        if m == 0 or daz:
            return sign | (emax << fb)
        sh = fb + 1 - m.bit_length()
        m, e = (m << sh) & ((1 << fb) - 1), 1 - sh
    if sign:
        return default_nan
    d = e - bias
    re = bias - 1 - (d >> 1)
    if m == 0 and d % 2 == 0:
        return (re + 1) << fb
    t = _segment(RSQRT14[((d & 1) << 5) | (m >> (fb - 5))], (m >> (fb - 15)) & 1023)
    return (re << fb) | (t << (fb - 16))


def _env(mc: Machine) -> tuple[bool, bool]:
    mx = mc.st.mxcsr
    return bool(mx & 0x40), bool(mx & 0x8000)          # DAZ, FTZ


def _packed(mc: Machine, fn, nbytes: int) -> None:
    dst, src = mc.insn.ops
    dt = np.uint32 if nbytes == 4 else np.uint64
    n = dst.bits // 8 // nbytes
    daz, ftz = _env(mc)
    x = mc.load_vec(src, dt, n, mc.kmask(n))
    mc.writeback(dst, np.array([fn(int(v), nbytes, daz, ftz) for v in x], dtype=dt))


def _scalar(mc: Machine, fn, nbytes: int) -> None:
    dst, src1, src2 = mc.insn.ops
    dt = np.uint32 if nbytes == 4 else np.uint64
    daz, ftz = _env(mc)
    x = int(vector.scalar_src(mc, src2, dt)[0])
    vector.scalar_result(mc, dst, src1, fn(x, nbytes, daz, ftz), dt)


HANDLERS["vrcp14ps"] = lambda mc: _packed(mc, rcp14, 4)
HANDLERS["vrcp14pd"] = lambda mc: _packed(mc, rcp14, 8)
HANDLERS["vrsqrt14ps"] = lambda mc: _packed(mc, rsqrt14, 4)
HANDLERS["vrsqrt14pd"] = lambda mc: _packed(mc, rsqrt14, 8)
HANDLERS["vrcp14ss"] = lambda mc: _scalar(mc, rcp14, 4)
HANDLERS["vrcp14sd"] = lambda mc: _scalar(mc, rcp14, 8)
HANDLERS["vrsqrt14ss"] = lambda mc: _scalar(mc, rsqrt14, 4)
HANDLERS["vrsqrt14sd"] = lambda mc: _scalar(mc, rsqrt14, 8)
