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


# ---- atomics and rotate-through-carry (mapping_tables/gpr_atomic.yaml) ---------------------------

def cmpxchg(mc: Machine) -> None:
    """Flags of accumulator - DEST (as cmp); equal: DEST = SRC, the accumulator is not written;
    not equal: accumulator = DEST (a 32-bit write zero-extends rax), a register DEST is not
    written. (``lock`` adds atomicity; a memory DEST's write-back of its own value on failure
    has no architectural effect here.)"""
    from ...ir import Gpr
    from .gpr import ALL6, set_flags, sub_flags, width
    dst, src = mc.insn.ops[:2]
    bits = width(dst)
    acc = Gpr(0, bits)
    a, d = mc.value(acc, bits), mc.value(dst, bits)
    _, f = sub_flags(a, d, 0, bits)
    if a == d:
        mc.store(dst, mc.value(src, bits), bits)
    else:
        mc.set(acc, d)
    set_flags(mc, ALL6, f)


def rcl_rcr(mc: Machine) -> None:
    """Rotate DEST:CF (bits + 1 wide) left (rcl) or right (rcr) by the count masked to 5 bits (6
    for 64-bit), modulo 17 / 9 for 16 / 8 bits. Only CF and OF change; a masked count of 0 changes
    nothing (a 32-bit register is still written, zero-extended, as for rol). OF is defined for a
    masked count of 1 (a count of 9 / 17 rotates 8 / 16 bits back: CF is kept, OF is undefined): rcl MSB(result) ^ CF, rcr the two top bits of the result."""
    from .gpr import CF, OF, _count, set_flags, width
    dst = mc.insn.ops[0]
    bits = width(dst)
    a = mc.value(dst, bits)
    masked = _count(mc, bits)
    n = masked % (bits + 1)
    if n == 0:                          # 9 / 17 for 8 / 16 bits: CF unchanged, OF undefined
        mc.store(dst, a, bits)
        mc.undef |= OF if masked else 0
        return
    w = bits + 1
    v = a | ((mc.st.rflags & CF) << bits)
    if mc.insn.mnemonic == "rcr":
        n = w - n
    r = ((v << n) | (v >> (w - n))) & ((1 << w) - 1)
    res, cf = r & ((1 << bits) - 1), r >> bits
    if mc.insn.mnemonic == "rcl":
        of = (res >> (bits - 1)) ^ cf
    else:
        of = (res >> (bits - 1)) ^ ((res >> (bits - 2)) & 1)
    mc.store(dst, res, bits)
    set_flags(mc, CF | OF, (CF if cf else 0) | (OF if of else 0), undefined=OF if masked != 1 else 0)


HANDLERS["cmpxchg"] = cmpxchg
HANDLERS["rcl"] = rcl_rcr
HANDLERS["rcr"] = rcl_rcr
