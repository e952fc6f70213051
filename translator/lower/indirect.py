"""Escape hatch `indirect_jump_table`: x86 indirect jumps whose jump table the walker resolved.

The walker (``decode/flow.py``) records every ``jmp r/m64`` in ``Program.indirect``: a
:class:`JumpTable` when it recognised the table, else None. Registers of a translated kernel
never hold x86 code addresses: ``lea r, [rip+X]`` and ``mov r, imm64`` of an in-kernel address
give the A64 address of the label of X (``adr``), and the kernel's data (the x86 tables included)
is carried into the A64 image unchanged. So the jump is lowered from what the kernel *computed*,
never from an x86 address:

* ``abs64`` (Xbyak ``putL`` tables: ``jmp qword [r + idx*8]`` or ``lea r, [r + idx*8]`` ...
  ``jmp qword [r]``): the effective address of the memory operand is the address of the table
  slot the x86 code would load, inside the carried table. ``idx = (slot - table) / 8`` selects an
  entry of a parallel A64 branch table (one ``b .L_<target>`` per x86 entry, in the out-of-line
  area): ``br table_a64 + 4 * idx``. A slot outside the table, or not 8-byte aligned, traps
  (``brk #0x6a74``): the x86 code would jump to whatever that memory holds.
* ``rel32`` (``movsxd t, [r + idx*4]`` ... ``add t, r`` ... ``jmp t``): ``t`` holds the A64
  address of the table plus the x86 offset of the target from the table; the offset is compared
  with each distinct entry (``cbz``) and the matching target's label is taken; no match traps.
* ``single`` (``lea/mov r, <label>`` ... ``jmp r``): ``r`` holds the label's A64 address; the
  jump checks that it still does, then ``br r``.

Nothing here touches NZCV (cbz/cbnz/tbz only), so the flag state flows unchanged into every
target, and only translator temporaries (x16, x17, x19..) are written. An unresolved indirect jump
stays unsupported. The lowering depends on addresses (labels of the table and of the targets), so
translate.py calls it outside the lowering cache.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..decode.flow import JumpTable
from ..ir import Gpr, Insn, Mem
from .address import Addresser, AddressError, mov_imm
from .engine import Unsupported
from .regmap import RegMap, X_TEMPS

TRAP = 0x6a74          # brk immediate of a jump through a slot/offset outside its table

__all__ = ["lower_indirect_jump", "jump_table_label", "TRAP"]


def jump_table_label(jump: int) -> str:
    return f".Ljt_{jump:x}"


def lower_indirect_jump(insn: Insn, jt: Optional[JumpTable], rm: RegMap, label_of: Callable[[int], str],
                        outlined: list) -> list[str]:
    """A64 lines for the indirect ``jmp`` ``insn`` through ``jt``; the branch table and the trap
    go to ``outlined``. Raises Unsupported when the jump has no resolved table."""
    if jt is None:
        raise Unsupported(insn, "indirect jump whose target table the walker could not resolve")
    if not insn.ops:
        raise Unsupported(insn, "indirect jump without an operand")
    temps = [f"x{n}" for n in X_TEMPS]

    def xtemp() -> str:
        if not temps:
            raise Unsupported(insn, "out of temporary x registers")
        return temps.pop(0)

    jl = jump_table_label(insn.address)
    bad = f"{jl}_bad"
    op = insn.ops[0]
    try:
        if jt.kind == "abs64" and isinstance(op, Mem) and op.size == 8:
            body = _abs64(insn, jt, op, rm, label_of, xtemp, jl, bad)
            outlined += [".balign 4", f"{jl}:"] + [f"b {label_of(t)}" for t in jt.targets]
        elif jt.kind == "rel32" and isinstance(op, Gpr) and op.bits == 64:
            body = _rel32(jt, op, rm, label_of, xtemp, bad)
        elif jt.kind == "single" and isinstance(op, Gpr) and op.bits == 64:
            x = f"x{rm.x_of(op.index)}"
            t = xtemp()
            body = [f"adr {t}, {label_of(jt.targets[0])}", f"sub {t}, {x}, {t}", f"cbnz {t}, {bad}", f"br {x}"]
        else:
            raise Unsupported(insn, f"jump table of kind {jt.kind} with operand {insn.form}")
    except AddressError as ex:
        raise Unsupported(insn, str(ex)) from None
    outlined += [f"{bad}:", f"brk #{TRAP:#x}"]
    return body


def _abs64(insn, jt, op, rm, label_of, xtemp, jl, bad) -> list[str]:
    n = len(jt.targets)
    if not 1 <= n <= 4096:
        raise Unsupported(insn, f"jump table of {n} entries")
    lines, slot = Addresser(rm, xtemp, label_of).full(op)
    i, u = xtemp(), xtemp()
    lines += [f"adr {i}, {label_of(jt.table)}",
              f"sub {i}, {slot}, {i}",            # byte offset of the slot in the table
              f"ror {i}, {i}, #3",                # index; a misaligned offset lands in bits 61..63
              f"lsr {u}, {i}, #12", f"cbnz {u}, {bad}"]       # index < 4096 (unsigned)
    if n < 4096:
        lines += [f"sub {u}, {i}, #{n}", f"tbz {u}, #63, {bad}"]   # index < n
    lines += [f"adr {u}, {jl}", f"add {u}, {u}, {i}, lsl #2", f"br {u}"]
    return lines


def _rel32(jt, op, rm, label_of, xtemp, bad) -> list[str]:
    x = f"x{rm.x_of(op.index)}"
    v, w = xtemp(), xtemp()
    lines = [f"adr {v}, {label_of(jt.table)}", f"sub {v}, {x}, {v}"]   # the x86 offset from the table
    seen = set()
    for t in jt.targets:
        off = t - jt.table
        if off in seen:
            continue
        seen.add(off)
        if 0 <= off < 4096:
            lines.append(f"sub {w}, {v}, #{off}")
        elif -4096 < off < 0:
            lines.append(f"add {w}, {v}, #{-off}")
        else:
            lines += mov_imm(w, off) + [f"sub {w}, {v}, {w}"]
        lines.append(f"cbz {w}, {label_of(t)}")
    lines.append(f"b {bad}")
    return lines
