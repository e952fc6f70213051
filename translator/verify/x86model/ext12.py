"""Legacy GPR semantics that gpr.py lacks (mapping_tables/gpr_extra.yaml): bswap.

adc/sbb, the one-operand mul/imul/div/idiv (#DE as X86Fault), rol/ror and the 8/16-bit shifts
are in gpr.py. Registered into ``HANDLERS`` of the package only where no other module defines
the mnemonic; cross-checked against this host's CPU (``python -m translator conformance``).
"""
from __future__ import annotations

from .core import Machine

HANDLERS: dict = {}


def bswap(mc: Machine) -> None:
    """Reverse the bytes of a 32/64-bit register (the 32-bit write zero-extends). The 16-bit
    form is undefined in the SDM: not modelled. No flags."""
    dst = mc.insn.ops[0]
    if dst.bits not in (32, 64):
        raise mc.unmodelled("bswap r16 is undefined")
    n = dst.bits // 8
    mc.set(dst, int.from_bytes(mc.get(dst).to_bytes(n, "little"), "big"))


HANDLERS["bswap"] = bswap
