"""Bit-exact reference model of the x86-64 instructions that x2sve translates.

API
---
``execute(insn, state) -> X86State``          new state (the input is not modified)
``execute_ex(insn, state) -> (X86State, int)`` new state and the mask of RFLAGS bits the
                                               instruction leaves undefined
``undefined_flags(insn, state_before) -> int`` that mask alone (CF=0x1 PF=0x4 AF=0x10 ZF=0x40
                                               SF=0x80 OF=0x800)
``modelled(mnemonic) -> bool``                 whether a mnemonic has semantics here
``Unmodelled(form)``                           raised for anything without semantics
``X86Fault(kind)``                             #PF outside the 4 KiB window at ``state.mem_base``,
                                               #GP misalignment, #DE divide error

Modules: ``fp`` (IEEE/x86 arithmetic, exact + vectorised), ``core`` (state access, memory,
masking), ``vector`` (SSE/AVX/AVX-512), ``gpr`` (integer + RFLAGS), ``masks`` (k registers).
Only RIP is not modelled: the model does not branch.
"""
from __future__ import annotations

from ...ir import Insn
from ..state import X86State
from . import ext, ext2, ext3, ext4, ext5, ext6, ext7, ext8, ext9, ext10, ext11, ext12, ext13, ext14, gather, gpr, masks, system, vector
from .core import Machine, Unmodelled, X86Fault

HANDLERS: dict = {}
HANDLERS.update(vector.HANDLERS)
HANDLERS.update(gpr.HANDLERS)
HANDLERS.update(masks.HANDLERS)
for _m, _f in ext.HANDLERS.items():        # extensions never replace a handler defined above
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext2.HANDLERS.items():
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext4.HANDLERS.items():       # bf16 / f16 / fp conversions (ext4.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext8.HANDLERS.items():       # AVX512-BF16 vdpbf16ps / vcvtne2ps2bf16 (ext8.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext3.HANDLERS.items():        # VNNI, vpternlog, vpcmp*, pabs*, pmulh*, vprol* (ext3.py)
    HANDLERS.setdefault(_m, _f)
ext3.chain_evex_compares(HANDLERS)          # EVEX vpcmpeq*/vpcmpgt* into opmasks
for _m, _f in ext9.HANDLERS.items():       # AVX512-FP16 arithmetic, compares, conversions (ext9.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext5.HANDLERS.items():       # pd / scalar conversions, comis (ext5.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext11.HANDLERS.items():      # kunpck, mask<->vector, compress/expand, scatter, bit counts (ext11.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext10.HANDLERS.items():      # vpermb, vpermil*, movdup, hadd/hsub, 128/256-bit insert/extract/broadcast, VBMI2 (ext10.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext6.HANDLERS.items():       # vscalef, vgetmant, vfpclass, vrange, vreduce (ext6.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext12.HANDLERS.items():      # bswap (ext12.py; gpr_extra.yaml)
    HANDLERS.setdefault(_m, _f)
for _m, _f in system.HANDLERS.items():     # ldmxcsr/stmxcsr (system.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in gather.HANDLERS.items():     # vgatherdps/dpd, vpgatherdd/dq (gather.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext7.HANDLERS.items():       # vrcp14*/vrsqrt14*, bit-exact (ext7.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext13.HANDLERS.items():      # more AVX512-FP16: rndscale/getexp/getmant/scalef/reduce/fpclass/comish, ph<->pd/qq, sh<->ss/sd/si (ext13.py)
    HANDLERS.setdefault(_m, _f)
for _m, _f in ext14.HANDLERS.items():      # vpconflictd/q, vgetexpss/sd, (v)roundss/sd, vrndscaless/sd (ext14.py)
    HANDLERS.setdefault(_m, _f)

__all__ = ["execute", "execute_ex", "undefined_flags", "modelled", "Unmodelled", "X86Fault",
           "HANDLERS"]


def modelled(mnemonic: str) -> bool:
    """A table's "lock X" (X's lock-prefixed forms) is modelled by X: one thread sees no lock."""
    return (mnemonic[5:] if mnemonic.startswith("lock ") else mnemonic) in HANDLERS


def execute_ex(insn: Insn, state: X86State) -> tuple[X86State, int]:
    fn = HANDLERS.get(insn.mnemonic)
    if fn is None or insn.meta.get("other_reg"):
        raise Unmodelled(insn.form)
    if insn.encoding not in ("legacy", "vex", "evex"):
        raise Unmodelled(insn.form, f"{insn.encoding} encoding")
    mc = Machine(state, insn)
    try:
        fn(mc)
    except (Unmodelled, X86Fault):
        raise
    except (TypeError, ValueError, AttributeError, IndexError, KeyError) as e:
        # an operand shape the semantics do not handle
        raise Unmodelled(insn.form, f"{type(e).__name__}: {e}") from e
    return mc.finish(), mc.undef


def execute(insn: Insn, state: X86State) -> X86State:
    return execute_ex(insn, state)[0]


def undefined_flags(insn: Insn, state_before: X86State) -> int:
    try:
        return execute_ex(insn, state_before)[1]
    except X86Fault:
        return 0
