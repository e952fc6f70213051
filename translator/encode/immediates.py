"""Immediate encoders shared by the spec helpers (pure functions, no tables from elsewhere).

Every function either returns the encoded field value(s) or raises ``EncodeError``.
"""
from __future__ import annotations

import math


class EncodeError(ValueError):
    """Raised for any line that cannot be encoded exactly as written."""


def _ror(v: int, r: int, e: int) -> int:
    m = (1 << e) - 1
    r %= e
    return ((v >> r) | (v << (e - r))) & m


def bimm(value: int, width: int) -> int:
    """A64 logical (bitmask) immediate -> 13-bit N:immr:imms for a ``width``-bit register."""
    full = (1 << width) - 1
    if value < 0:
        if value < -(1 << (width - 1)):
            raise EncodeError(f"immediate {value:#x} out of range for {width}-bit logical operation")
        value &= full
    if value > full:
        raise EncodeError(f"immediate {value:#x} out of range for {width}-bit logical operation")
    if value == 0 or value == full:
        raise EncodeError(f"immediate {value:#x} is not encodable as a logical (bitmask) immediate")
    e = 2
    while e <= width:
        m = (1 << e) - 1
        elt = value & m
        rep = 0
        for i in range(0, width, e):
            rep |= elt << i
        if rep == value:
            break
        e *= 2
    ones = bin(elt).count("1")
    pat = (1 << ones) - 1
    for r in range(e):
        if _ror(pat, r, e) == elt:
            n = 1 if e == 64 else 0
            imms = ((-e << 1) & 0x3F) | (ones - 1)
            return (n << 12) | (r << 6) | imms
    raise EncodeError(f"immediate {value:#x} is not encodable as a logical (bitmask) immediate")


def bimm_decode(n13: int, width: int) -> int:
    """Inverse of :func:`bimm` (used by the decoder and tests)."""
    n, immr, imms = (n13 >> 12) & 1, (n13 >> 6) & 63, n13 & 63
    combined = (n << 6) | (~imms & 63)
    if combined == 0:
        raise EncodeError("reserved bitmask immediate")
    length = combined.bit_length() - 1
    e = 1 << length
    s = imms & (e - 1)
    if s == e - 1:
        raise EncodeError("reserved bitmask immediate")
    elt = _ror((1 << (s + 1)) - 1, immr, e)
    out = 0
    for i in range(0, width, e):
        out |= elt << i
    return out


def sve_bimm(value: int, ebits: int) -> int:
    """SVE logical immediate for element size ``ebits``: replicate then encode as 64-bit."""
    full = (1 << ebits) - 1
    if value < 0:
        if value < -(1 << (ebits - 1)):
            raise EncodeError(f"immediate {value} out of range for {ebits}-bit elements")
        value &= full
    if value > full:
        raise EncodeError(f"immediate {value:#x} out of range for {ebits}-bit elements")
    rep = 0
    for i in range(0, 64, ebits):
        rep |= value << i
    try:
        return bimm(rep, 64)
    except EncodeError:
        raise EncodeError(f"immediate {value:#x} is not encodable as a {ebits}-bit element "
                          f"logical immediate (nor as a dup imm8)") from None


def movz_enc(value: int, width: int):
    """(hw, imm16) for movz of ``value`` or raise."""
    full = (1 << width) - 1
    if value < 0:
        if value < -(1 << (width - 1)):
            raise EncodeError(f"immediate {value} out of range")
        value &= full
    if value > full:
        raise EncodeError(f"immediate {value:#x} out of range")
    for hw in range(width // 16):
        if value & ~(0xFFFF << (16 * hw)) & full == 0:
            return hw, (value >> (16 * hw)) & 0xFFFF
    raise EncodeError(f"immediate {value:#x} is not a movz immediate")


def movn_enc(value: int, width: int):
    full = (1 << width) - 1
    if value < 0:
        if value < -(1 << (width - 1)):
            raise EncodeError(f"immediate {value} out of range")
        value &= full
    if value > full:
        raise EncodeError(f"immediate {value:#x} out of range")
    inv = ~value & full
    hw, imm16 = movz_enc(inv, width)
    if width == 32 and imm16 == 0xFFFF:
        raise EncodeError(f"immediate {value:#x} is not a movn immediate")
    return hw, imm16


def mov_bimm(value: int, width: int) -> int:
    try:
        return bimm(value, width)
    except EncodeError:
        raise EncodeError(f"immediate {value:#x} cannot be encoded by one movz/movn/orr "
                          f"(use movz+movk)") from None


def add_imm(value: int, sh: int):
    """(sh, imm12) for add/sub immediates, accepting lsl #12 or auto-shifting like GNU as."""
    if sh not in (0, 12):
        raise EncodeError("shift must be lsl #0 or lsl #12")
    if value < 0:
        raise EncodeError(f"immediate {value} out of range (0..4095, optionally lsl #12)")
    if value < 4096:
        return sh // 12, value
    if sh == 0 and value & 0xFFF == 0 and value >> 12 < 4096:
        return 1, value >> 12
    raise EncodeError(f"immediate {value:#x} out of range (0..4095, optionally lsl #12)")


_FIMM8 = None


def _fimm8_table():
    global _FIMM8
    if _FIMM8 is None:
        t = {}
        for i in range(256):
            sign = -1.0 if i & 0x80 else 1.0
            b = (i >> 6) & 1
            cd = (i >> 4) & 3
            exp = (-3 + cd) if b else (1 + cd)
            t[sign * (16 + (i & 15)) / 16.0 * 2.0 ** exp] = i
        _FIMM8 = t
    return _FIMM8


def fimm8(value) -> int:
    """8-bit floating-point immediate (fmov/fdup)."""
    v = float(value)
    if math.isnan(v) or v not in _fimm8_table():
        raise EncodeError(f"floating-point immediate {value} is not encodable in 8 bits")
    return _FIMM8[v]


def fsel(value, zero, one) -> int:
    """1-bit floating-point immediate choosing between two constants."""
    v = float(value)
    if v == zero:
        return 0
    if v == one:
        return 1
    raise EncodeError(f"floating-point immediate {value} must be {zero} or {one}")


def sve_imm8sh(value: int, sh, ebits: int, signed: bool):
    """(sh, imm8) for SVE add/sub/dup/cpy immediates with optional lsl #8."""
    if sh not in (0, 8):
        raise EncodeError("shift must be lsl #0 or lsl #8")
    if sh == 8:
        if ebits == 8:
            raise EncodeError("lsl #8 not allowed for byte elements")
        lo, hi = (-128, 127) if signed else (0, 255)
        if not lo <= value <= hi:
            raise EncodeError(f"immediate {value} out of range")
        return 1, value & 0xFF
    lo, hi = (-128, 127) if signed else (0, 255)
    if lo <= value <= hi:
        return 0, value & 0xFF
    if ebits > 8 and value & 0xFF == 0 and lo <= (value >> 8) <= hi:
        return 1, (value >> 8) & 0xFF
    if signed and ebits < 64:
        # accept the unsigned spelling of a negative element value (e.g. #0xff80 for .h)
        full = (1 << ebits) - 1
        if 0 <= value <= full:
            sv = value - (1 << ebits) if value >> (ebits - 1) else value
            if sv != value:
                return sve_imm8sh(sv, sh, ebits, signed)
    raise EncodeError(f"immediate {value} out of range (imm8, optionally lsl #8)")
