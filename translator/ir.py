"""The small, typed intermediate representation that every stage shares.

decode (iced-x86) -> ``Insn`` objects -> lowering (mapping tables) -> A64 text -> encode.

Registers are named the x86 way. GPR numbers follow the x86 encoding order
(rax=0, rcx=1, rdx=2, rbx=3, rsp=4, rbp=5, rsi=6, rdi=7, r8..r15 = 8..15).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

GPR64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
         "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d")
GPR16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
         "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w")
GPR8 = ("al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
        "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b")
GPR8_HIGH = ("ah", "ch", "dh", "bh")
VEC_PREFIX = {128: "xmm", 256: "ymm", 512: "zmm"}


@dataclass(frozen=True, slots=True)
class Gpr:
    """A general-purpose register: ``index`` 0..15, ``bits`` 8/16/32/64; ``high8`` for ah/ch/dh/bh."""
    index: int
    bits: int = 64
    high8: bool = False

    @property
    def name(self) -> str:
        if self.high8:
            return GPR8_HIGH[self.index]
        return {64: GPR64, 32: GPR32, 16: GPR16, 8: GPR8}[self.bits][self.index]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Vec:
    """A vector register xmm/ymm/zmm ``index`` 0..31 of width ``bits`` (128/256/512)."""
    index: int
    bits: int

    @property
    def name(self) -> str:
        return f"{VEC_PREFIX[self.bits]}{self.index}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class KReg:
    """An AVX-512 opmask register k0..k7."""
    index: int

    @property
    def name(self) -> str:
        return f"k{self.index}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Mem:
    """A memory operand.

    ``disp`` is the final displacement (disp8*N already scaled). For rip-relative operands
    ``rip`` is True, ``base`` is None and ``disp`` holds the absolute target address.
    ``size`` is the number of bytes accessed (for a broadcast: the size of one element).
    ``bcst`` is True for an EVEX embedded broadcast ``{1toN}``; ``elem_bytes`` is the element size
    the memory-size tag implies (4 for ``dword bcst``, 0 when the operand is not vector-typed).
    ``index`` may be a ``Vec`` for VSIB (gather/scatter).
    """
    base: Optional[Gpr]
    index: Optional[Union[Gpr, Vec]] = None
    scale: int = 1
    disp: int = 0
    size: int = 0
    bcst: bool = False
    elem_bytes: int = 0
    rip: bool = False
    seg: Optional[str] = None

    def __str__(self) -> str:
        parts = []
        if self.rip:
            return f"[rip:{self.disp:#x}]"
        if self.base is not None:
            parts.append(self.base.name)
        if self.index is not None:
            parts.append(f"{self.index.name}*{self.scale}")
        s = "+".join(parts)
        if self.disp or not s:
            s += f"{'+' if self.disp >= 0 and s else ''}{self.disp:#x}" if self.disp >= 0 else f"-{-self.disp:#x}"
        return f"[{s}]"


@dataclass(frozen=True, slots=True)
class Imm:
    """An immediate. ``value`` is sign-extended to Python int as x86 defines for the operand;
    ``bits`` is the encoded immediate width."""
    value: int
    bits: int = 8

    def __str__(self) -> str:
        return hex(self.value)


Operand = Union[Gpr, Vec, KReg, Mem, Imm]


def operand_shape(op: Operand) -> str:
    """The shape tag of one operand as used in form names: zmm, ymm, xmm, k, r64, m512, m32bcst, imm8 ..."""
    if isinstance(op, Vec):
        return VEC_PREFIX[op.bits]
    if isinstance(op, KReg):
        return "k"
    if isinstance(op, Gpr):
        return "r8h" if op.high8 else f"r{op.bits}"
    if isinstance(op, Mem):
        if op.bcst:
            return f"m{op.elem_bytes * 8}bcst"
        if isinstance(op.index, Vec):
            return f"vm{op.elem_bytes * 8 or 32}{VEC_PREFIX[op.index.bits][0]}"
        return f"m{op.size * 8}"
    if isinstance(op, Imm):
        return f"imm{op.bits}"
    raise TypeError(op)


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded x86-64 instruction.

    ``mnemonic`` is lower-case Intel (``vaddps``, ``jne``, ``mov``). ``ops`` are in Intel order
    (destination first). ``mask`` is the opmask register number (0 = none), ``zeroing`` is
    ``{z}``. ``rounding`` is one of None, "rn", "rd", "ru", "rz" (embedded rounding, implies SAE);
    ``sae`` is ``{sae}``. ``encoding`` is "legacy", "vex", "evex" (or "xop", "3dnow", unsupported).
    ``flow`` is iced's flow control in lower case: "next", "unconditional_branch",
    "conditional_branch", "call", "return", "indirect_branch", "indirect_call", "interrupt", ...
    ``target`` is the branch target for direct branches and calls.
    """
    address: int
    raw: bytes
    mnemonic: str
    ops: tuple[Operand, ...] = ()
    mask: int = 0
    zeroing: bool = False
    rounding: Optional[str] = None
    sae: bool = False
    encoding: str = "legacy"
    flow: str = "next"
    target: Optional[int] = None
    text: str = ""
    code: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def length(self) -> int:
        return len(self.raw)

    @property
    def next_address(self) -> int:
        return self.address + len(self.raw)

    @property
    def form(self) -> str:
        """Mnemonic plus operand shapes, e.g. ``vaddps zmm{k}{z}, zmm, m32bcst`` — the key
        that tables, verify and coverage use for an operand shape."""
        shapes = []
        for i, op in enumerate(self.ops):
            s = operand_shape(op)
            if i == 0 and self.mask:
                s += "{k}" + ("{z}" if self.zeroing else "")
            shapes.append(s)
        if self.rounding:
            shapes.append("{er}")
        elif self.sae:
            shapes.append("{sae}")
        return f"{self.mnemonic} {', '.join(shapes)}".strip()

    def __str__(self) -> str:
        return self.text or self.form
