"""Known-zero upper bits: which vector registers are zero above bit 128 or 256 at each instruction.

A VEX or EVEX instruction with an xmm/ymm destination zeroes the destination above its width
(x86 semantics), so the SVE translation normally ends with ``mov zD.b, pUpper/m, #0``. When
every source register is already zero up there and the entry's SVE is lane-wise with
op(0, ..., 0) = 0 (the table says ``keeps_zero: yes``, and ``x2sve verify`` proves it on states
whose registers are zero above the width), that line is redundant: an AVX2 kernel pays it on
almost every instruction otherwise.

This module is the forward dataflow that supplies the "already zero" facts. It describes x86
architectural state only (the translation is bit-exact with it):
- a VEX/EVEX write of an xmm (ymm) register leaves it zero above 128 (256); a zmm write, or
  anything unknown, forgets the register; legacy SSE writes keep the bits above 128 as they were;
- ``vzeroupper`` / ``vzeroall`` zero zmm0-15 above 128;
- unit entries, call returns and instructions without a known predecessor know nothing.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import iced_x86

_INFO = iced_x86.InstructionInfoFactory()
_R = iced_x86.Register
_OA = iced_x86.OpAccess
_ENC = iced_x86.EncodingKind
_WRITES = {_OA.WRITE, _OA.READ_WRITE, _OA.COND_WRITE, _OA.READ_COND_WRITE}
_LOW16 = (1 << 16) - 1


@lru_cache(maxsize=65536)
def effects(raw: bytes) -> tuple[int, int, int, bool]:
    """(registers forgotten, registers now zero above 256, now zero above 128, dst read) as
    bit masks over z0-z31, for one instruction; ``dst read``: operand 0 is a vector register
    that the instruction also reads (merge masking, read-modify-write)."""
    ins = iced_x86.Decoder(64, raw).decode()
    m = ins.mnemonic
    if m in (iced_x86.Mnemonic.VZEROUPPER, iced_x86.Mnemonic.VZEROALL):
        return 0, _LOW16, _LOW16, False
    vex = ins.encoding in (_ENC.VEX, _ENC.EVEX)
    forget = z256 = z128 = 0
    infos = _INFO.info(ins).used_registers()
    for u in infos:                     # iced reports a VEX/EVEX xmm/ymm write as the whole zmm
        if u.access not in _WRITES:
            continue
        r = u.register
        for lo in (_R.XMM0, _R.YMM0, _R.ZMM0):
            if lo <= r < lo + 32:
                if vex or lo == _R.ZMM0:
                    forget |= 1 << (r - lo)
                break
    dst_read = False
    if ins.op_count and ins.op0_kind == iced_x86.OpKind.REGISTER:
        r0 = ins.op0_register
        for lo, width in ((_R.XMM0, 128), (_R.YMM0, 256), (_R.ZMM0, 512)):
            if lo <= r0 < lo + 32:
                z = r0 - lo
                acc = next((u.access for u in infos if u.register in (r0, _R.ZMM0 + z)), _OA.WRITE)
                dst_read = acc != _OA.WRITE
                if vex and width < 512:
                    z256 |= 1 << z
                    if width == 128:
                        z128 |= 1 << z
                break
    return forget, z256, z128, dst_read


def zero_above_in(order: list, successors: Callable, entries: set[int]) -> dict[int, tuple[int, int]]:
    """For each instruction address: (mask zero above 256, mask zero above 128) on entry.

    ``successors(insn)`` gives the addresses control may go to next; ``entries`` are the
    addresses entered from outside the unit (nothing known there)."""
    n = len(order)
    idx = {insn.address: i for i, insn in enumerate(order)}
    succ = [[idx[a] for a in successors(insn) if a in idx] for insn in order]
    has_pred = [False] * n
    for i, ss in enumerate(succ):
        for s in ss:
            has_pred[s] = True
    full = (1 << 32) - 1
    z256 = [full] * n          # optimistic start: meet with every predecessor below
    z128 = [full] * n
    for i, insn in enumerate(order):
        if insn.address in entries or not has_pred[i]:
            z256[i] = z128[i] = 0
    changed = True
    while changed:
        changed = False
        for i, insn in enumerate(order):
            if insn.flow in ("call", "indirect_call"):
                o256 = o128 = 0            # the callee may leave anything behind
            else:
                forget, w256, w128, _ = effects(insn.raw)
                o256 = (z256[i] & ~forget) | w256
                o128 = (z128[i] & ~forget) | w128
            for s in succ[i]:
                a, b = z256[s] & o256, z128[s] & o128
                if a != z256[s] or b != z128[s]:
                    z256[s], z128[s] = a, b
                    changed = True
    return {insn.address: (z256[i], z128[i]) for i, insn in enumerate(order)}


def operand_regs(insn) -> list[int]:
    """The z indices of an instruction's vector register operands (not VSIB indices)."""
    from ..ir import Vec
    return [op.index for op in insn.ops if isinstance(op, Vec)]


def zero_context(insn, state: tuple[int, int]) -> frozenset | None:
    """The registers an instruction may treat as zero above its destination's width: its vector
    operands known zero there, plus its destination when it does not read it. None when the
    instruction has no VEX/EVEX xmm/ymm destination (nothing to decide)."""
    if not eligible(insn):
        return None
    bits = insn.ops[0].bits
    known = state[1] if bits <= 128 else state[0]
    regs = operand_regs(insn)
    out = {z for z in regs if known >> z & 1}
    if dst_is_free(insn):
        out.add(insn.ops[0].index)
    return frozenset(out)


def eligible(insn) -> bool:
    """Whether the zeroing of an instruction's result may ever be skipped: a VEX/EVEX xmm/ymm
    destination, no write-mask (k may have bits above the width) and no {1toN} source (ld1r
    fills every lane)."""
    from ..ir import Mem, Vec
    return (insn.encoding in ("vex", "evex") and bool(insn.ops) and isinstance(insn.ops[0], Vec)
            and insn.ops[0].bits < 512 and not insn.mask
            and not any(isinstance(op, Mem) and op.bcst for op in insn.ops))


def dst_is_free(insn) -> bool:
    """Whether the old value of the vector destination cannot matter: operand 0 is only
    written (no merge masking, no read-modify-write) and is not also a source operand."""
    if effects(insn.raw)[3]:
        return False
    return insn.ops[0].index not in operand_regs(insn)[1:]
