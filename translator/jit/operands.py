"""Operands of the Xbyak-style generator: registers, memory expressions, labels, decorations.

Everything here mirrors Xbyak's public spelling:

    rax .. r15, eax .., ax .., al .., zmm0..31, ymm0..31, xmm0..31, k0..k7, rip
    ptr[rax + rcx*4 + 64]   ptr_b[rax] (embedded broadcast)   dword[..] qword[..] zword[..] ...
    zmm1 | k1               zmm1 | k1 | T_z                   zmm3 | T_rn_sae   zmm3 | T_sae
    ptr[rip + label]        (rip-relative; ``label`` is a ``Label``)

Registers carry their iced-x86 ``Register`` value, so the emitter builds instructions directly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

import iced_x86 as _I

__all__ = ["Operand", "Reg", "Gpr", "Vmm", "Opmask", "RipReg", "Decorated", "RegExp", "Address",
           "AddressFrame", "Label", "Decoration", "Rounding",
           "T_z", "T_sae", "T_rn_sae", "T_rd_sae", "T_ru_sae", "T_rz_sae",
           "T_NEAR", "T_SHORT", "T_AUTO",
           "ptr", "ptr_b", "byte", "word", "dword", "qword", "xword", "yword", "zword",
           "xword_b", "yword_b", "zword_b", "REGISTERS", "rip"]

_R = _I.Register


class Operand:
    """Base class of every generator operand."""


# ---------------------------------------------------------------------------------------------
# decorations (T_z, rounding, jump kinds)

@dataclass(frozen=True)
class Decoration:
    name: str

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Rounding(Decoration):
    """Embedded rounding / SAE: ``rc`` is an iced RoundingControl value or None for {sae}."""
    rc: Optional[int] = None


T_z = Decoration("T_z")
T_sae = Rounding("T_sae", None)
T_rn_sae = Rounding("T_rn_sae", _I.RoundingControl.ROUND_TO_NEAREST)
T_rd_sae = Rounding("T_rd_sae", _I.RoundingControl.ROUND_DOWN)
T_ru_sae = Rounding("T_ru_sae", _I.RoundingControl.ROUND_UP)
T_rz_sae = Rounding("T_rz_sae", _I.RoundingControl.ROUND_TOWARD_ZERO)
# Jump-distance hints: accepted and ignored (every label branch is emitted as rel32, which keeps
# instruction sizes independent of the layout).
T_NEAR = Decoration("T_NEAR")
T_SHORT = Decoration("T_SHORT")
T_AUTO = Decoration("T_AUTO")


# ---------------------------------------------------------------------------------------------
# registers

class Reg(Operand):
    """A register. ``kind`` is r64/r32/r16/r8/xmm/ymm/zmm/k; ``idx`` its number."""
    __slots__ = ("name", "kind", "idx", "iced", "bits")

    def __init__(self, name: str, kind: str, idx: int, iced: int, bits: int):
        self.name, self.kind, self.idx, self.iced, self.bits = name, kind, idx, iced, bits

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Reg) and other.iced == self.iced

    def __hash__(self) -> int:
        return hash(("reg", self.iced))

    # masking / rounding decorations: zmm1 | k1 | T_z, zmm2 | T_rn_sae
    def __or__(self, other):
        return Decorated(self) | other

    # address arithmetic: rax + rcx*4 + 64
    def __add__(self, other):
        return RegExp.of(self) + other

    def __radd__(self, other):
        return RegExp.of(self) + other

    def __sub__(self, other):
        return RegExp.of(self) - other

    def __mul__(self, scale):
        if not isinstance(scale, int) or scale not in (1, 2, 4, 8):
            raise ValueError(f"{self.name}*{scale!r}: the scale must be 1, 2, 4 or 8")
        return RegExp(index=self, scale=scale)

    __rmul__ = __mul__


class Gpr(Reg):
    __slots__ = ()

    # Xbyak conveniences
    def cvt64(self) -> "Gpr":
        return _GPR[64][self.idx]

    def cvt32(self) -> "Gpr":
        return _GPR[32][self.idx]

    def cvt16(self) -> "Gpr":
        return _GPR[16][self.idx]

    def cvt8(self) -> "Gpr":
        return _GPR[8][self.idx]

    def getIdx(self) -> int:   # noqa: N802 (Xbyak spelling)
        return self.idx


class Vmm(Reg):
    __slots__ = ()

    def getIdx(self) -> int:   # noqa: N802
        return self.idx


class Opmask(Reg):
    __slots__ = ()

    def getIdx(self) -> int:   # noqa: N802
        return self.idx


class RipReg(Reg):
    """``rip``: only usable in ``ptr[rip + label (+ disp)]``."""
    __slots__ = ()


@dataclass(frozen=True)
class Decorated(Operand):
    """A register (or a store's address) with {k} masking, {z} and/or embedded rounding/SAE."""
    reg: "Reg | Address"
    mask: Optional[Opmask] = None
    zero: bool = False
    rounding: Optional[Rounding] = None

    def __or__(self, other):
        if isinstance(other, Opmask):
            if self.mask is not None:
                raise ValueError(f"{self.reg} already has the mask {self.mask}")
            return replace(self, mask=other)
        if other is T_z:
            return replace(self, zero=True)
        if isinstance(other, Rounding):
            return replace(self, rounding=other)
        raise TypeError(f"cannot decorate {self.reg} with {other!r}")

    def __repr__(self) -> str:
        s = repr(self.reg)
        if self.mask is not None:
            s += f"{{{self.mask.name}}}"
        if self.zero:
            s += "{z}"
        if self.rounding is not None:
            s += f"{{{self.rounding.name[2:]}}}"
        return s


# ---------------------------------------------------------------------------------------------
# memory expressions

class Label:
    """A code position, defined once with ``L(label)`` and referenced before or after."""
    _next = [0]

    def __init__(self, name: Optional[str] = None):
        Label._next[0] += 1
        self.id = Label._next[0]
        self.name = name or f"L{self.id}"
        self.gen = None          # the generator that defined it
        self.address: Optional[int] = None

    def __repr__(self) -> str:
        return f"Label({self.name})"

    def getAddress(self) -> Optional[int]:   # noqa: N802 (Xbyak spelling)
        return self.address

    def __add__(self, disp):
        return RegExp(label=self) + disp

    __radd__ = __add__


@dataclass(frozen=True)
class RegExp(Operand):
    """``base + index*scale + disp`` (or ``rip + label + disp``)."""
    base: Optional[Reg] = None
    index: Optional[Reg] = None
    scale: int = 1
    disp: int = 0
    label: Optional[Label] = None
    rip: bool = False

    @staticmethod
    def of(x) -> "RegExp":
        if isinstance(x, RegExp):
            return x
        if isinstance(x, RipReg):
            return RegExp(rip=True)
        if isinstance(x, Reg):
            return RegExp(base=x)
        if isinstance(x, Label):
            return RegExp(label=x)
        if isinstance(x, int):
            return RegExp(disp=x)
        raise TypeError(f"{x!r} cannot appear in an address")

    def __add__(self, other):
        if isinstance(other, int) and not isinstance(other, bool):
            return replace(self, disp=self.disp + other)
        o = RegExp.of(other)
        base, index, scale = self.base, self.index, self.scale
        for r, sc, is_index in ((o.base, 1, False), (o.index, o.scale, True)):
            if r is None:
                continue
            if not is_index and base is None:
                base = r
            elif index is None:
                index, scale = r, sc
            elif not is_index and base is None:
                base = r
            else:
                raise ValueError("an address takes at most a base and an index register")
        if base is not None and index is not None and isinstance(base, Vmm) and not isinstance(index, Vmm):
            base, index = index, base           # zmm1 + rax -> [rax + zmm1]
        if self.label is not None and o.label is not None:
            raise ValueError("an address takes at most one label")
        return RegExp(base, index, scale, self.disp + o.disp, self.label or o.label, self.rip or o.rip)

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, int):
            return replace(self, disp=self.disp - other)
        raise TypeError("only a constant can be subtracted in an address")

    def __repr__(self) -> str:
        parts = []
        if self.rip:
            parts.append("rip")
        if self.label is not None:
            parts.append(self.label.name)
        if self.base is not None:
            parts.append(self.base.name)
        if self.index is not None:
            parts.append(f"{self.index.name}*{self.scale}")
        if self.disp or not parts:
            parts.append(f"{self.disp:#x}" if self.disp >= 0 else f"-{-self.disp:#x}")
        return "+".join(parts).replace("+-", "-")


@dataclass(frozen=True)
class Address(Operand):
    """A memory operand: ``bits`` is the explicit size (0 for ``ptr``), ``bcst`` for ``ptr_b``."""
    exp: RegExp
    bits: int = 0
    bcst: bool = False

    def __repr__(self) -> str:
        size = {0: "ptr", 8: "byte", 16: "word", 32: "dword", 64: "qword", 80: "tword",
                128: "xword", 256: "yword", 512: "zword"}.get(self.bits, f"m{self.bits}")
        if self.bcst:
            size = size + "_b" if self.bits else "ptr_b"
        return f"{size}[{self.exp!r}]"

    def __or__(self, other):                 # masked store: vmovups(ptr[rax] | k1, zmm0)
        return Decorated(self) | other


class AddressFrame:
    """``ptr``, ``dword``, ... : ``frame[expr]`` builds an ``Address``."""

    def __init__(self, bits: int, bcst: bool = False):
        self.bits, self.bcst = bits, bcst

    def __getitem__(self, exp) -> Address:
        e = RegExp.of(exp)
        if e.label is not None and e.base is None and e.index is None:
            e = replace(e, rip=True)             # ptr[label] is rip-relative, as in Xbyak
        if e.rip and e.index is not None:
            raise ValueError("a rip-relative address cannot have an index register")
        return Address(e, self.bits, self.bcst)

    def __repr__(self) -> str:
        return f"AddressFrame({self.bits}, bcst={self.bcst})"


ptr = AddressFrame(0)
ptr_b = AddressFrame(0, True)
byte = AddressFrame(8)
word = AddressFrame(16)
dword = AddressFrame(32)
qword = AddressFrame(64)
tword = AddressFrame(80)
xword = AddressFrame(128)
yword = AddressFrame(256)
zword = AddressFrame(512)
xword_b = AddressFrame(128, True)
yword_b = AddressFrame(256, True)
zword_b = AddressFrame(512, True)


# ---------------------------------------------------------------------------------------------
# the register set

_N64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi") + tuple(f"r{i}" for i in range(8, 16))
_N32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi") + tuple(f"r{i}d" for i in range(8, 16))
_N16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di") + tuple(f"r{i}w" for i in range(8, 16))
_N8 = ("al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil") + tuple(f"r{i}b" for i in range(8, 16))

_GPR: dict[int, list[Gpr]] = {}
REGISTERS: dict[str, Reg] = {}


def _iced(name: str) -> int:
    n = name.upper()
    if n.startswith("R") and n.endswith("B") and n[1:-1].isdigit():
        n = n[:-1] + "L"                       # iced spells r8b as R8L
    return getattr(_R, n)


for _bits, _names in ((64, _N64), (32, _N32), (16, _N16), (8, _N8)):
    _GPR[_bits] = []
    for _i, _n in enumerate(_names):
        _r = Gpr(_n, f"r{_bits}", _i, _iced(_n), _bits)
        _GPR[_bits].append(_r)
        REGISTERS[_n] = _r
for _i, _n in enumerate(("ah", "ch", "dh", "bh")):
    REGISTERS[_n] = Gpr(_n, "r8", _i + 4, _iced(_n), 8)
for _i in range(32):
    for _p, _bits in (("xmm", 128), ("ymm", 256), ("zmm", 512)):
        REGISTERS[f"{_p}{_i}"] = Vmm(f"{_p}{_i}", _p, _i, _iced(f"{_p}{_i}"), _bits)
for _i in range(8):
    REGISTERS[f"k{_i}"] = Opmask(f"k{_i}", "k", _i, _iced(f"k{_i}"), 64)
rip = RipReg("rip", "rip", 0, _R.RIP, 64)
REGISTERS["rip"] = rip
# Xbyak also names r8b..r15b as r8l? no: it spells them r8b; keep both spellings available
for _i in range(8, 16):
    REGISTERS[f"r{_i}l"] = REGISTERS[f"r{_i}b"]

globals().update(REGISTERS)
__all__ += list(REGISTERS)
