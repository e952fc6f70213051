"""Tiny two-pass assembler over iced-x86's Encoder, for the oracle trampolines and boot image.

Usage::

    a = Asm(64, base=0x1000)
    a.label("top")
    a("MOV_R64_RM64", "rax", M("rip", disp=Label("data")))
    a("JMP_REL32_64", Label("top"))
    a.db(b"\\x90")
    code = a.assemble()

Instructions are ``iced_x86.Code`` names; operands are register names (str), ints (immediates),
:class:`M` memory operands or :class:`Label` (branch targets / addresses in immediates and
displacements).  Branches must use their rel32/rel16 forms so sizes do not depend on targets;
every displacement that refers to a label is forced to full width for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import iced_x86 as ix


@dataclass(frozen=True)
class Label:
    name: str
    add: int = 0

    def __add__(self, n: int) -> "Label":
        return Label(self.name, self.add + n)


@dataclass(frozen=True)
class M:
    """Memory operand.  ``disp`` may be an int or a Label (an absolute address)."""
    base: str | None = None
    disp: int | Label = 0
    index: str | None = None
    scale: int = 1
    bcst: bool = False


def _reg(name: str) -> int:
    return getattr(ix.Register, name.upper())


class Asm:
    def __init__(self, bitness: int, base: int, externs: dict[str, int] | None = None):
        self.bitness = bitness
        self.base = base
        self.externs = dict(externs or {})
        self.items: list[tuple] = []   # ("ins", code, ops) | ("db", bytes) | ("label", name) | ("align", n)

    def __call__(self, code: str, *ops, k: str | None = None, z: bool = False,
                 rc: int | None = None, sae: bool = False) -> None:
        """EVEX extras: ``k`` opmask register name, ``z`` zeroing, ``rc`` an
        ``iced_x86.RoundingControl`` value (embedded rounding), ``sae`` suppress-all-exceptions."""
        self.items.append(("ins", getattr(ix.Code, code), ops, (k, z, rc, sae)))

    def label(self, name: str) -> Label:
        self.items.append(("label", name))
        return Label(name)

    def raw(self, ins: ix.Instruction) -> None:
        """An iced Instruction built by the caller (e.g. ``Instruction.create_rep_insw(64)``)."""
        self.items.append(("raw", ins))

    def db(self, data: bytes) -> None:
        self.items.append(("db", bytes(data)))

    def align(self, n: int) -> None:
        self.items.append(("align", n))

    # ------------------------------------------------------------------
    def _val(self, v, labels):
        if isinstance(v, Label):
            if v.name in self.externs:
                return self.externs[v.name] + v.add
            if labels is None:
                return self.base  # placeholder of plausible size
            return labels[v.name] + v.add
        return v

    def _mem(self, m: M, labels) -> ix.MemoryOperand:
        disp = self._val(m.disp, labels)
        base = _reg(m.base) if m.base else ix.Register.NONE
        index = _reg(m.index) if m.index else ix.Register.NONE
        if m.base == "rip":
            dsz = 8  # iced: RIP-relative target given as absolute address
        elif isinstance(m.disp, Label) or (m.base is None and m.index is None):
            dsz = 2 if self.bitness == 16 else 4
        else:
            dsz = 1 if disp else 0
        return ix.MemoryOperand(base, index, m.scale, disp, dsz, m.bcst)

    def _make(self, code: int, ops, labels) -> ix.Instruction:
        I = ix.Instruction
        if len(ops) == 1 and isinstance(ops[0], Label):
            tgt = self._val(ops[0], labels)
            return I.create_branch(code, tgt)
        kinds, args = [], []
        for o in ops:
            if isinstance(o, str):
                kinds.append("reg")
                args.append(_reg(o))
            elif isinstance(o, M):
                kinds.append("mem")
                args.append(self._mem(o, labels))
            else:
                v = self._val(o, labels)
                if -(1 << 31) <= v < (1 << 31):
                    kinds.append("i32")
                elif 0 <= v < (1 << 32):
                    kinds.append("u32")
                else:
                    kinds.append("u64" if v >= 0 else "i64")
                args.append(v)
        fn = getattr(I, "create_" + "_".join(kinds)) if kinds else I.create
        return fn(code, *args)

    def _pass(self, labels):
        enc = ix.Encoder(self.bitness)
        out = bytearray()
        found: dict[str, int] = {}
        for it in self.items:
            ip = self.base + len(out)
            if it[0] == "label":
                found[it[1]] = ip
            elif it[0] == "db":
                out += it[1]
            elif it[0] == "raw":
                enc.encode(it[1], ip)
                out += enc.take_buffer()
            elif it[0] == "align":
                while len(out) % it[1]:
                    out.append(0xCC)
            else:
                ins = self._make(it[1], it[2], labels)
                k, z, rc, sae = it[3]
                if k:
                    ins.op_mask = _reg(k)
                if z:
                    ins.zeroing_masking = True
                if rc is not None:
                    ins.rounding_control = rc
                if sae:
                    ins.suppress_all_exceptions = True
                enc.encode(ins, ip)
                out += enc.take_buffer()
        return bytes(out), found

    def assemble(self) -> tuple[bytes, dict[str, int]]:
        first, labels = self._pass(None)
        code, labels2 = self._pass(labels)
        if labels2 != labels or len(code) != len(first):
            raise RuntimeError("assembler: instruction sizes changed between passes")
        return code, {**self.externs, **labels}


def asm64(*lines, base: int = 0) -> bytes:
    """Assemble a few 64-bit instructions: ``asm64(("VADDPS...", "zmm0", "zmm1", "zmm2", {"k": "k1"}))``
    -- a trailing dict in a tuple holds the EVEX keyword extras of :meth:`Asm.__call__`."""
    a = Asm(64, base)
    for ln in lines:
        kw = ln[-1] if isinstance(ln[-1], dict) else {}
        a(*(ln[:-1] if kw else ln), **kw)
    return a.assemble()[0]


def far_jump16(selector: int, offset: int) -> bytes:
    """``jmp dword selector:offset`` from 16-bit code (66 EA ptr16:32)."""
    return b"\x66\xEA" + offset.to_bytes(4, "little") + selector.to_bytes(2, "little")
