"""Translation-time checks for the state-control entries of mapping_tables/system.yaml.

``ldmxcsr`` of a constant in the kernel's own data (rip-relative: the value is known when
translating) with DAZ, FTZ, an unmasked exception or a reserved bit set is unsupported here,
rather than left to the run-time trap path of the entry (see system.yaml for the decision).
"""
from __future__ import annotations

from ..ir import Insn, Mem
from .engine import Unsupported
from .regmap import MXCSR_DEFAULT

__all__ = ["check_constant_mxcsr", "mxcsr_problems"]

_BITS = [(1 << 6, "DAZ"), (1 << 15, "FTZ")]


def mxcsr_problems(v: int) -> list[str]:
    """What an MXCSR value sets that the translation does not support (empty: supported)."""
    out = [n for b, n in _BITS if v & b]
    unmasked = ~v & 0x1F80
    if unmasked:
        names = ["IM", "DM", "ZM", "OM", "UM", "PM"]
        out.append("unmasked " + "/".join(n for i, n in enumerate(names) if unmasked >> (7 + i) & 1))
    if v & 0xFFFF0000:
        out.append("reserved bits (x86 #GP)")
    return out


def check_constant_mxcsr(insn: Insn, prog) -> None:
    """Raise Unsupported for ``(v)ldmxcsr [rip+X]`` with X in the kernel's data and a value that
    ``mxcsr_problems`` rejects. Anything else (run-time values) is left to the entry."""
    if insn.mnemonic not in ("ldmxcsr", "vldmxcsr") or not insn.ops:
        return
    m = insn.ops[0]
    if not isinstance(m, Mem) or not m.rip:
        return
    a = m.disp
    if not any(s <= a and a + 4 <= e for s, e in prog.data):
        return
    v = int.from_bytes(prog.data_bytes(a, a + 4), "little")
    bad = mxcsr_problems(v)
    if bad:
        raise Unsupported(insn, f"ldmxcsr of the constant {v:#06x} ({', '.join(bad)}): only RC and "
                                f"status flags are translated (mapping_tables/system.yaml)")


assert not mxcsr_problems(MXCSR_DEFAULT)
