"""AVX2 / AVX-512 gathers with 32-bit indices: vgatherdps, vgatherdpd, vpgatherdd, vpgatherdq.

Per the Intel SDM operation sections:

- EVEX ``dst{k}, vm32{x,y,z}``: for each element i < KL with k[i] = 1,
  dst[i] = mem[base + SignExtend(index.d[i]) * scale + disp]; elements with k[i] = 0 keep dst;
  then k is cleared (all 64 bits) and dst bits above VL are zeroed. dst == index is #UD.
- VEX ``dst, vm32{x,y}, mask``: element i is active when the sign bit of mask element i is set;
  active elements are loaded, inactive ones keep dst; then the whole mask register is zeroed and
  dst bits above VL are zeroed. Any two of dst, index, mask the same register is #UD.

Addresses are computed in 64 bits. An active element outside the 4 KiB window raises
``X86Fault("#PF")`` (the partially completed state of a faulting gather is not modelled: verify
only checks that both sides fault). Elements are read in order, so the first faulting element is
the lowest active one.
"""
from __future__ import annotations

import numpy as np

from ...ir import Mem, Vec
from .core import M64, Machine, X86Fault, mask_bits

HANDLERS: dict = {}


def gather(mc: Machine, es: int) -> None:
    insn = mc.insn
    ops = insn.ops
    dst, m = ops[0], ops[1]
    if not isinstance(dst, Vec) or not isinstance(m, Mem) or not isinstance(m.index, Vec):
        raise mc.unmodelled("gather operands")
    if m.seg in ("fs", "gs") or m.rip:
        raise mc.unmodelled("segment override / rip in a VSIB operand")
    n = dst.bits // (8 * es)
    idx = np.frombuffer(mc.st.zmm[m.index.index], dtype=np.int32, count=n)
    dt = np.uint32 if es == 4 else np.uint64
    vex = insn.encoding == "vex"
    if vex:
        vm = ops[2]
        if len({dst.index, m.index.index, vm.index}) != 3:
            raise X86Fault("#UD", "VEX gather with dst, index and mask not all distinct")
        act = (np.frombuffer(mc.st.zmm[vm.index], dtype=dt, count=n) >> dt(8 * es - 1)).astype(bool)
    else:
        if not insn.mask:
            raise X86Fault("#UD", "EVEX gather without a write-mask")
        if dst.index == m.index.index:
            raise X86Fault("#UD", "EVEX gather with dst == index")
        act = mask_bits(mc.st.k[insn.mask], n)
    base = (mc.get(m.base) if m.base is not None else 0) + m.disp
    out = np.frombuffer(mc.st.zmm[dst.index], dtype=dt, count=n).copy()
    for i in np.nonzero(act)[0]:
        i = int(i)
        a = (base + int(idx[i]) * m.scale) & M64
        out[i] = int.from_bytes(mc.read(a, es), "little")
    mc.write_vreg_bytes(dst, out.tobytes(), False)          # VEX/EVEX: bits above VL zeroed
    if vex:
        mc.st.zmm[ops[2].index] = bytes(64)                  # the mask register, whole
    else:
        mc.st.k[insn.mask] = 0


for _m, _es in (("vgatherdps", 4), ("vpgatherdd", 4), ("vgatherdpd", 8), ("vpgatherdq", 8)):
    HANDLERS[_m] = (lambda es: (lambda mc: gather(mc, es)))(_es)


# ---- xadd (mapping_tables/gpr_more.yaml) --------------------------------------------------------

def xadd(mc: Machine) -> None:
    """TEMP = SRC + DEST; SRC = DEST; DEST = TEMP; flags as for add. (``lock`` adds atomicity,
    which a single-threaded model cannot observe.)"""
    from .gpr import ALL6, add_flags, set_flags, width
    dst, src = mc.insn.ops[:2]
    bits = width(dst)
    a, b = mc.value(dst, bits), mc.value(src, bits)
    r, f = add_flags(a, b, 0, bits)
    if isinstance(dst, Mem):            # the address is formed before the source register changes
        mc.store(dst, r, bits)
        mc.store(src, a, bits)
    else:
        mc.store(src, a, bits)
        mc.store(dst, r, bits)           # xadd r, r with src == dst: the destination is written last
    set_flags(mc, ALL6, f)


HANDLERS["xadd"] = xadd
