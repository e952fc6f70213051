"""Mnemonic + operands -> one iced-x86 ``Instruction`` -> bytes.

The lookup table is built once from iced's opcode tables: for every ``Code`` that is a real
instruction in 64-bit mode (legacy, VEX or EVEX), ``_TABLE[mnemonic]`` lists ``Form``s (the Code
and the kind of each operand). ``select(mnemonic, operands)`` filters the forms whose operand
kinds accept the given operands (register class, memory size, immediate range, broadcast and
masking abilities), ranks them (EVEX first when the operands need it — zmm, zmm16-31, {k}, {z},
broadcast, rounding — else VEX, then legacy, then EVEX) and keeps, among the forms of the best
encoding that encode, the shortest; the resulting candidate order is cached per
(mnemonic, operand signature).

Branches to labels always use the rel32 form and ``mov r64, label`` always the imm64 form, so an
instruction's size never depends on where labels end up: the generator lays code out as it goes
and only re-encodes forward references at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import iced_x86 as _I

from .operands import Address, Decorated, Gpr, Label, Opmask, Reg, RipReg, Rounding, Vmm

__all__ = ["Form", "EncodeProblem", "forms_of", "known_mnemonic", "build", "encode", "Built",
           "format_insn", "mnemonics"]

_OK = _I.OpCodeOperandKind
_K = _I.OpKind
_E = _I.EncodingKind
_MASK64 = (1 << 64) - 1


class EncodeProblem(Exception):
    """No form of the mnemonic takes these operands (message says why)."""


def _names(enum) -> dict[int, str]:
    out = {}
    for k, v in vars(enum).items():
        if k.isupper() and isinstance(v, int):
            out.setdefault(v, k)
    return out


_KIND_NAME = _names(_OK)
_MNEMONIC_NAME = {v: k.lower() for v, k in _names(_I.Mnemonic).items()}
_CODE_NAME = _names(_I.Code)


def _classify(kind: int) -> Optional[tuple]:
    """Operand kind -> (category, detail). None for kinds the generator does not offer."""
    n = _KIND_NAME[kind]
    if n in ("AL", "AX", "EAX", "RAX", "CL", "DX"):
        return ("fixed", getattr(_I.Register, n))
    for bits in (64, 32, 16, 8):
        p = f"R{bits}_"
        if n.startswith(p):
            rest = n[len(p):]
            if rest in ("REG", "RM", "OPCODE", "VVVV"):
                return ("gpr", bits, False)
            if rest == "OR_MEM":
                return ("gpr", bits, True)
            return None                               # MPX, REG_MEM
    for v in ("XMM", "YMM", "ZMM"):
        if n.startswith(v + "_"):
            rest = n[4:]
            if rest in ("REG", "RM", "VVVV", "IS4", "IS5"):
                return ("vec", v.lower(), False)
            if rest == "OR_MEM":
                return ("vec", v.lower(), True)
            return None
    if n in ("K_REG", "K_RM", "K_VVVV"):
        return ("k", False)
    if n == "K_OR_MEM":
        return ("k", True)
    if n == "MEM":
        return ("mem", None)
    if n.startswith("MEM_VSIB"):
        return ("mem", {"X": "xmm", "Y": "ymm", "Z": "zmm"}[n[-1]])
    if n.startswith("IMM") and n != "IMM4_M2Z":
        return ("imm", n)
    if n == "BR64_4":
        return ("rel", 4)
    if n == "BR64_1":
        return ("rel", 1)
    return None


@dataclass(frozen=True)
class Form:
    code: int
    name: str                     # iced Code name, e.g. EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER
    kinds: tuple                  # _classify() per operand
    encoding: int
    mem_bytes: int                # memory operand size (whole operand), 0 if none/unknown
    bcst_bytes: int               # broadcast element size, 0 if it cannot broadcast
    info: object                  # iced OpCodeInfo


def _build_table() -> dict[str, list[Form]]:
    table: dict[str, list[Form]] = {}
    for code, name in sorted(_CODE_NAME.items()):
        oi = _I.OpCodeInfo(code)
        if not oi.is_instruction or not oi.mode64 or oi.encoding not in (_E.LEGACY, _E.VEX, _E.EVEX):
            continue
        kinds = tuple(_classify(k) for k in oi.op_kinds())
        if any(k is None for k in kinds):
            continue
        mem = _I.MemorySizeExt.info(oi.memory_size).size
        bc = _I.MemorySizeExt.info(oi.broadcast_memory_size).size if oi.can_broadcast else 0
        table.setdefault(_MNEMONIC_NAME[oi.mnemonic], []).append(
            Form(code, name, kinds, oi.encoding, mem, bc, oi))
    return table


_TABLE: dict[str, list[Form]] = {}


def _table() -> dict[str, list[Form]]:
    if not _TABLE:
        _TABLE.update(_build_table())
    return _TABLE


def mnemonics() -> list[str]:
    return sorted(_table())


def known_mnemonic(m: str) -> bool:
    return m in _table()


def forms_of(m: str) -> list[Form]:
    return _table().get(m, [])


# ---------------------------------------------------------------------------------------------
# matching

_IMM_RANGE = {
    "IMM8": (-(1 << 7), (1 << 8) - 1), "IMM16": (-(1 << 15), (1 << 16) - 1),
    "IMM32": (-(1 << 31), (1 << 32) - 1), "IMM64": (-(1 << 63), (1 << 64) - 1),
}
_IMM_OPKIND = {"IMM8": _K.IMMEDIATE8, "IMM8SEX16": _K.IMMEDIATE8TO16, "IMM8SEX32": _K.IMMEDIATE8TO32,
               "IMM8SEX64": _K.IMMEDIATE8TO64, "IMM16": _K.IMMEDIATE16, "IMM32": _K.IMMEDIATE32,
               "IMM32SEX64": _K.IMMEDIATE32TO64, "IMM64": _K.IMMEDIATE64, "IMM8_CONST_1": _K.IMMEDIATE8}


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _imm_fits(kind: str, v: int) -> bool:
    if kind == "IMM8_CONST_1":
        return v == 1
    if kind in _IMM_RANGE:
        lo, hi = _IMM_RANGE[kind]
        return lo <= v <= hi
    if kind.startswith("IMM8SEX"):
        n = int(kind[7:])
        return -(1 << (n - 1)) <= v < (1 << n) and -128 <= _signed(v, n) <= 127
    if kind == "IMM32SEX64":
        return -(1 << 63) <= v < (1 << 64) and -(1 << 31) <= _signed(v, 64) < (1 << 31)
    return False


def _accepts(k: tuple, op, form: Form, pos: int) -> bool:
    cat = k[0]
    if isinstance(op, Reg):
        if cat == "fixed":
            return op.iced == k[1]
        if cat == "gpr":
            return isinstance(op, Gpr) and op.bits == k[1]
        if cat == "vec":
            return isinstance(op, Vmm) and op.kind == k[1]
        if cat == "k":
            return isinstance(op, Opmask)
        return False
    if isinstance(op, Address):
        if cat == "mem":
            vsib = k[1]
            idx = op.exp.index
            if vsib is None:
                if isinstance(idx, Vmm):
                    return False
            elif not (isinstance(idx, Vmm) and idx.kind == vsib):
                return False
        elif not (cat in ("gpr", "vec", "k") and k[-1] is True):
            return False
        if op.bcst:
            if not form.bcst_bytes:
                return False
        if op.bits and form.mem_bytes and op.bits != 8 * form.mem_bytes:
            return False
        return True
    if isinstance(op, Label):
        return cat == "rel" or (cat == "imm" and k[1] == "IMM64")
    if isinstance(op, int) and not isinstance(op, bool):
        return cat == "imm" and _imm_fits(k[1], op)
    return False


@dataclass
class Built:
    """One encoded instruction and what it needs at the end (a label to re-encode against)."""
    instr: object                  # iced Instruction
    form: Form
    raw: bytes
    label: Optional[Label] = None  # the label this instruction refers to
    label_disp: int = 0
    label_use: str = ""            # "branch" | "imm64" | "rip"


def _need_evex(ops, deco) -> bool:
    if deco["mask"] is not None or deco["zero"] or deco["rounding"] is not None:
        return True
    for op in ops:
        if isinstance(op, Vmm) and (op.kind == "zmm" or op.idx >= 16):
            return True
        if isinstance(op, Address):
            if op.bcst:
                return True
            if isinstance(op.exp.index, Vmm) and (op.exp.index.kind == "zmm" or op.exp.index.idx >= 16):
                return True
    return False


_RANK_PLAIN = {_E.VEX: 0, _E.LEGACY: 1, _E.EVEX: 2}


def _signature(ops, deco) -> tuple:
    sig = []
    for op in ops:
        if isinstance(op, Reg):
            sig.append(op.iced)
        elif isinstance(op, Address):
            idx = op.exp.index
            sig.append(("m", op.bits, op.bcst, idx.kind if isinstance(idx, Vmm) else None,
                        op.exp.rip or op.exp.label is not None))
        elif isinstance(op, Label):
            sig.append("label")
        else:
            sig.append(("i", op))
    return tuple(sig) + (deco["mask"] is not None, deco["zero"],
                         None if deco["rounding"] is None else deco["rounding"].rc is None)


_CANDIDATES: dict[tuple, list[Form]] = {}


def candidates(mnemonic: str, ops: tuple, deco: dict) -> list[Form]:
    key = (mnemonic, _signature(ops, deco))
    got = _CANDIDATES.get(key)
    if got is not None:
        return got
    forms = forms_of(mnemonic)
    if not forms:
        raise EncodeProblem(f"unknown mnemonic {mnemonic!r}")
    out = []
    for f in forms:
        if len(f.kinds) != len(ops):
            continue
        oi = f.info
        if deco["mask"] is not None and not oi.can_use_op_mask_register:
            continue
        if deco["mask"] is None and oi.require_op_mask_register:
            continue
        if deco["zero"] and not oi.can_use_zeroing_masking:
            continue
        r = deco["rounding"]
        if r is not None and not (oi.can_use_rounding_control if r.rc is not None else oi.can_suppress_all_exceptions):
            continue
        if not all(_accepts(k, op, f, i) for i, (k, op) in enumerate(zip(f.kinds, ops))):
            continue
        out.append(f)
    if any(isinstance(op, Label) for op in ops):
        rel4 = [f for f in out if any(k[0] == "rel" and k[1] == 4 for k in f.kinds)]
        if rel4:
            out = rel4
    if _need_evex(ops, deco):
        out = [f for f in out if f.encoding == _E.EVEX]
    else:
        out.sort(key=lambda f: _RANK_PLAIN[f.encoding])
    _CANDIDATES[key] = out
    return out


# ---------------------------------------------------------------------------------------------
# building

def _set_mem(ins, op: Address, addr_of_label, ip: int) -> tuple[Optional[Label], int]:
    e = op.exp
    if e.rip:
        ins.memory_base = _I.Register.RIP
        target = e.disp
        if e.label is not None:
            a = addr_of_label(e.label)
            target = (a if a is not None else ip) + e.disp
        ins.memory_displacement = target & _MASK64
        ins.memory_displ_size = 8
        if op.bcst:
            ins.is_broadcast = True
        return e.label, e.disp
    if e.base is not None:
        if not isinstance(e.base, Gpr) or e.base.bits not in (32, 64):
            raise EncodeProblem(f"{e.base} cannot be a base register")
        ins.memory_base = e.base.iced
    if e.index is not None:
        if isinstance(e.index, Gpr) and (e.index.bits not in (32, 64) or e.index.idx == 4):
            raise EncodeProblem(f"{e.index} cannot be an index register")
        ins.memory_index = e.index.iced
        ins.memory_index_scale = e.scale
    ins.memory_displacement = e.disp & _MASK64
    if e.base is None and e.index is None:
        ins.memory_displ_size = 4            # absolute [disp32]
    elif e.base is None:
        ins.memory_displ_size = 4            # [index*scale + disp32]
    else:
        ins.memory_displ_size = 0 if e.disp == 0 else 1   # the encoder widens as needed
    if op.bcst:
        ins.is_broadcast = True
    return None, 0


def _instruction(form: Form, ops: tuple, deco: dict, ip: int, addr_of_label) -> tuple:
    if any(k[0] == "rel" for k in form.kinds):
        lab = ops[0]
        a = addr_of_label(lab) if isinstance(lab, Label) else lab
        target = a if a is not None else ip
        return _I.Instruction.create_branch(form.code, target & _MASK64), lab if isinstance(lab, Label) else None, 0, "branch"
    ins = _I.Instruction.create(form.code)
    label, ldisp, use = None, 0, ""
    for i, (k, op) in enumerate(zip(form.kinds, ops)):
        if isinstance(op, Reg):
            ins.set_op_kind(i, _K.REGISTER)
            ins.set_op_register(i, op.iced)
        elif isinstance(op, Address):
            ins.set_op_kind(i, _K.MEMORY)
            label, ldisp = _set_mem(ins, op, addr_of_label, ip)
            if label is not None or op.exp.rip:
                use = "rip"
        elif isinstance(op, Label):
            ins.set_op_kind(i, _K.IMMEDIATE64)
            a = addr_of_label(op)
            ins.set_immediate_u64(i, (a if a is not None else 0) & _MASK64)
            label, use = op, "imm64"
        else:
            kind = k[1]
            ins.set_op_kind(i, _IMM_OPKIND[kind])
            if kind in ("IMM8", "IMM8_CONST_1"):
                ins.set_immediate_u32(i, op & 0xFF)
            elif kind.startswith("IMM8SEX"):
                ins.set_immediate_i32(i, _signed(op, 8))
            elif kind == "IMM16":
                ins.set_immediate_u32(i, op & 0xFFFF)
            elif kind == "IMM32":
                ins.set_immediate_u32(i, op & 0xFFFFFFFF)
            elif kind == "IMM32SEX64":
                ins.set_immediate_i64(i, _signed(op, 64))
            else:
                ins.set_immediate_u64(i, op & _MASK64)
    if deco["mask"] is not None:
        ins.op_mask = deco["mask"].iced
    if deco["zero"]:
        ins.zeroing_masking = True
    r = deco["rounding"]
    if r is not None:
        if r.rc is not None:
            ins.rounding_control = r.rc          # embedded rounding implies SAE
        else:
            ins.suppress_all_exceptions = True
    return ins, label, ldisp, use


def encode(ins, ip: int) -> bytes:
    enc = _I.Encoder(64)
    enc.encode(ins, ip & _MASK64)
    return bytes(enc.take_buffer())


def build(mnemonic: str, ops: tuple, deco: dict, ip: int, addr_of_label) -> Built:
    """Choose the form and encode at ``ip``; unknown labels are encoded against a placeholder."""
    cands = candidates(mnemonic, ops, deco)
    if not cands:
        raise EncodeProblem(f"no encoding of {mnemonic} takes ({_shapes(ops, deco)})")
    best: Optional[Built] = None
    errors = []
    best_rank = None
    found: list[Built] = []
    for f in cands:
        rank = f.encoding
        if best_rank is not None and rank != best_rank:
            break                                   # a better-ranked encoding already worked
        try:
            ins, label, ldisp, use = _instruction(f, ops, deco, ip, addr_of_label)
            raw = encode(ins, ip)
        except (ValueError, EncodeProblem) as ex:
            errors.append(f"{f.name}: {ex}")
            continue
        best_rank = rank
        b = Built(ins, f, raw, label, ldisp, use)
        found.append(b)
        if best is None or len(raw) < len(best.raw):
            best = b
    if best is None:
        raise EncodeProblem(f"no encoding of {mnemonic} takes ({_shapes(ops, deco)})"
                            + (f": {errors[0]}" if errors else ""))
    mem = [op for op in ops if isinstance(op, Address)]
    if mem and not mem[0].bits:
        sizes = {b.form.bcst_bytes if mem[0].bcst else b.form.mem_bytes for b in found}
        if len(sizes) > 1:
            raise EncodeProblem(f"{mnemonic}: the memory operand size is ambiguous "
                                f"({', '.join(str(8 * s) for s in sorted(sizes))} bits): "
                                f"write byte/word/dword/qword/xword/yword/zword[...]")
    return best


def _shapes(ops, deco) -> str:
    out = []
    for op in ops:
        if isinstance(op, Reg):
            out.append(op.kind)
        elif isinstance(op, Address):
            out.append(repr(op))
        elif isinstance(op, Label):
            out.append("label")
        else:
            out.append(f"imm {op}")
    s = ", ".join(out)
    if deco["mask"] is not None:
        s += f" {{{deco['mask']}}}"
    if deco["zero"]:
        s += " {z}"
    if deco["rounding"] is not None:
        s += f" {{{deco['rounding'].name}}}"
    return s


_FMT = None


def format_insn(raw: bytes, ip: int) -> str:
    global _FMT
    if _FMT is None:
        _FMT = _I.Formatter(_I.FormatterSyntax.INTEL)
        _FMT.first_operand_char_index = 0
        _FMT.space_after_operand_separator = True
    return _FMT.format(_I.Decoder(64, raw, ip=ip & _MASK64).decode())


def split_operands(args) -> tuple[tuple, dict]:
    """User arguments -> (plain operands, decorations). Jump hints (T_NEAR...) are dropped."""
    from .operands import Decoration, T_z
    deco = {"mask": None, "zero": False, "rounding": None}
    ops = []
    for a in args:
        if isinstance(a, Decorated):
            if a.mask is not None:
                deco["mask"] = a.mask
            deco["zero"] |= a.zero
            if a.rounding is not None:
                deco["rounding"] = a.rounding
            ops.append(a.reg)
        elif isinstance(a, Rounding):
            deco["rounding"] = a
        elif a is T_z:
            deco["zero"] = True
        elif isinstance(a, Decoration):
            continue                          # T_NEAR / T_SHORT / T_AUTO
        elif isinstance(a, RipReg):
            raise EncodeProblem("rip is only usable inside an address: ptr[rip + label]")
        elif isinstance(a, (Reg, Address, Label)) or (isinstance(a, int) and not isinstance(a, bool)):
            ops.append(a)
        else:
            raise EncodeProblem(f"operand {a!r} ({type(a).__name__}) is not a register, address, "
                                f"label or integer")
    return tuple(ops), deco
