"""x86 state-control instructions: ``ldmxcsr`` / ``vldmxcsr`` and ``stmxcsr`` / ``vstmxcsr``.

Per the Intel SDM (LDMXCSR/STMXCSR): ``ldmxcsr m32`` loads MXCSR from memory and raises #GP when a
reserved bit (one outside MXCSR_MASK, here 0xFFFF: every modern CPU with DAZ) is set; ``stmxcsr
m32`` stores MXCSR (all 32 bits, the reserved ones read as zero). Neither touches RFLAGS. The
legacy and VEX forms behave the same (VEX.L must be 0, which the decoder enforces).
Cross-checked against this host's CPU in ``tests/test_e2e_mxcsr.py``.
"""
from __future__ import annotations

from .core import Machine, X86Fault

HANDLERS: dict = {}
MXCSR_MASK = 0xFFFF


def ldmxcsr(mc: Machine) -> None:
    m = mc.insn.ops[0]
    v = mc.read_int(m, 4)
    if v & ~MXCSR_MASK & 0xFFFFFFFF:
        raise X86Fault("#GP", f"ldmxcsr of {v:#x}: reserved MXCSR bits set")
    mc.st.mxcsr = v


def stmxcsr(mc: Machine) -> None:
    mc.write_int(mc.insn.ops[0], mc.st.mxcsr & MXCSR_MASK, 4)


for _n in ("ldmxcsr", "vldmxcsr"):
    HANDLERS[_n] = ldmxcsr
for _n in ("stmxcsr", "vstmxcsr"):
    HANDLERS[_n] = stmxcsr
