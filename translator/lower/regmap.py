"""The register model: where x86 state lives in A64/SVE state.

GPRs (fixed, chosen so that System V argument registers land on AAPCS64 ones):

    rdi x0   rsi x1   rdx x2   rcx x3   r8 x4   r9 x5   rax x6   r10 x7
    r11 x8   rbx x9   rbp x10  r12 x11  r13 x12 r14 x13 r15 x14  rsp x15

x16, x17, x19..x24 are translator temporaries, dead at x86 instruction boundaries; x25, x26 and
the temporaries not used by an instruction hold cached addresses across instructions
(``peephole.py``); x28 points at the private scratch area
(spills, predicate/GPR transfers); x29/x30 keep their AAPCS64 roles. RFLAGS live in NZCV
(see ``flags.py``), but for PF: its low byte source lives in x27 (``X_PF``), which nothing
else writes. MXCSR.RC lives in FPCR.RMode.

Vectors: zmmN is zN; xmm/ymm are the low 128/256 bits with the bits above zeroed as VEX/EVEX
require. Temporaries are zmm registers the unit never uses, or spilled ones.

Opmasks: x86 keeps one bit per element, SVE one bit per byte. Each k register has one *home
layout* for a whole unit (kernel or snippet): ``s`` stores mask bit i at predicate bit 4i (what
f32/i32 ops consume), ``d`` at 8i, ``h`` at 2i, ``b`` at i. A layout of element size E holds
VL/(8E) mask bits; the home layout is the one most reads want among those wide enough for every
write. Bits above the layout's capacity are zero by construction (every writer zero-extends).
A read in another layout converts into a temporary (punpklo / uzp1), so a mask written at one
element width and read at another is still right.

Predicates: p0-p7 are the only governing predicates for most SVE instructions, so k registers
used as write-masks, the all-true predicate and the narrow-width predicates are placed there
first; k registers only used as values go to p8-p15.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from ..ir import GPR64, Imm, Insn, KReg, Mem, Vec

GPR_TO_X = {"rdi": 0, "rsi": 1, "rdx": 2, "rcx": 3, "r8": 4, "r9": 5, "rax": 6, "r10": 7,
            "r11": 8, "rbx": 9, "rbp": 10, "r12": 11, "r13": 12, "r14": 13, "r15": 14, "rsp": 15}
X_OF_INDEX = [GPR_TO_X[n] for n in GPR64]          # x86 register number -> x register
X_TEMPS = (16, 17, 19, 20, 21, 22, 23, 24)
X_CTX = 28                                          # scratch area pointer
X_PF = 27                                           # PF: even parity of the low byte (flags.py)
LAYOUT_BYTES = {"b": 1, "h": 2, "s": 4, "d": 8}
SIZE_LETTER = {1: "b", 2: "h", 4: "s", 8: "d"}

# Offsets inside the scratch area (bytes). Spill slots are VL-sized.
SCRATCH_GPR = 0          # 64 bytes for GPR <-> predicate transfers
SCRATCH_MXCSR = 64       # 4 bytes: the x86 MXCSR XOR MXCSR_DEFAULT (mapping_tables/system.yaml);
                         # its RC bits are unused (FPCR.RMode holds RC). An all-zero scratch area
                         # (verify, JIT callers) thus holds the power-on 0x1F80.
MXCSR_DEFAULT = 0x1F80
SCRATCH_ZSPILL = 256     # z spill slots (VL bytes each)
SCRATCH_ZBORROW = 2048   # z registers borrowed over a run of instructions (translate.py, 4 slots)
SCRATCH_ZNAN = 2304      # accumulator copies kept for merged NaN fix-ups (nancheck.py, 3 slots)
SCRATCH_PSPILL = 4096    # p spill slots


_MEM_WIDTH = re.compile(r"[XYZ]MMM(128|256|512)")


def kdst_mem_bits(insn: Insn) -> int:
    """Vector width of an opmask-destination instruction whose only vector operand is memory
    (``vfpclassps k, m512`` / ``{1toN}``), from iced's code name; 0 for anything else."""
    if not insn.ops or not isinstance(insn.ops[0], KReg) or any(isinstance(o, Vec) for o in insn.ops):
        return 0
    m = _MEM_WIDTH.search(insn.code or "")
    return int(m.group(1)) if m else 0


class RegAllocError(Exception):
    """Raised when the register model cannot hold a unit (reported as unsupported)."""


@dataclass
class RegMap:
    """The register assignment for one unit. Built by ``RegMap.for_unit``."""
    vl: int = 512
    k_pred: dict[int, int] = field(default_factory=dict)     # k index -> p index
    k_layout: dict[int, str] = field(default_factory=dict)   # k index -> home layout
    p_all: int = 0
    p_width: dict[int, int] = field(default_factory=dict)    # 128/256 -> p index
    p_upper: dict[int, int] = field(default_factory=dict)    # 128/256 -> p true above that width
    free_p_low: list[int] = field(default_factory=list)      # temporaries in p0-p7
    free_p_high: list[int] = field(default_factory=list)     # temporaries in p8-p15
    free_z: list[int] = field(default_factory=list)
    p_lane: dict[tuple[str, int], int] = field(default_factory=dict)   # (T, element) -> p

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def for_unit(cls, insns: list[Insn], vl: int = 512, k_pref: dict[int, str] | None = None,
                 k_min: dict[int, str] | None = None, lanes=()) -> "RegMap":
        """Assign predicates and temporaries for the instructions of one unit.

        ``k_pref`` gives the layout most reads of each k want, ``k_min`` the finest layout a
        write needs (both from the lowering's scan of the tables)."""
        used_z: set[int] = set()
        mask_k: set[int] = set()
        value_k: set[int] = set()
        widths: set[int] = set()
        for insn in insns:
            if insn.mask:
                mask_k.add(insn.mask)
            for op in insn.ops:
                if isinstance(op, Vec):
                    used_z.add(op.index)
                    if op.bits < vl and insn.encoding in ("vex", "evex", "legacy"):   # legacy: {g} is the width
                        widths.add(op.bits)
                elif isinstance(op, KReg):
                    value_k.add(op.index)
                elif isinstance(op, Mem) and isinstance(op.index, Vec):
                    used_z.add(op.index.index)
            kb = kdst_mem_bits(insn)          # k <- m128/m256: the load needs the width predicate
            if 0 < kb < vl:
                widths.add(kb)
        rm = cls(vl=vl)
        low = list(range(8))
        high = list(range(8, 16))
        rm.p_all = low.pop(0)
        for k in sorted(mask_k):
            rm.k_pred[k] = low.pop(0)
        for w in sorted(widths, reverse=True):
            if low:
                rm.p_width[w] = low.pop(0)
            else:
                rm.p_width[w] = high.pop(0)
        for w in sorted(widths, reverse=True):
            if high:
                rm.p_upper[w] = high.pop(0)
        for k in sorted(value_k - mask_k):
            rm.k_pred[k] = high.pop(0) if high else low.pop(0)
        for lane in lanes:          # one-element predicates ({lane}) from what p8-p15 has left
            if lane[1] >= 8:        # built from ptrue vl<k+1> and vl<k>: patterns up to vl8
                continue
            if not high or (lane[1] and len(low) + len(high) < 2):
                break
            rm.p_lane[lane] = high.pop(0)
        rm.free_p_low, rm.free_p_high = low, high
        rm.free_z = [z for z in range(31, -1, -1) if z not in used_z]
        for k in set(rm.k_pred):
            pref = (k_pref or {}).get(k, "s")
            need = (k_min or {}).get(k, "d")
            rm.k_layout[k] = pref if LAYOUT_BYTES[pref] <= LAYOUT_BYTES[need] else need
        return rm

    # ---- queries --------------------------------------------------------------------------
    @staticmethod
    def x_of(gpr_index: int) -> int:
        return X_OF_INDEX[gpr_index]

    def p_of_k(self, k: int) -> int:
        if k not in self.k_pred:
            raise RegAllocError(f"k{k} has no predicate register in this unit")
        return self.k_pred[k]

    def layout_of_k(self, k: int) -> str:
        return self.k_layout.get(k, "s")

    def width_pred(self, bits: int) -> int:
        """The predicate that is true on the low ``bits`` bits of a vector."""
        if bits >= self.vl:
            return self.p_all
        if bits not in self.p_width:
            raise RegAllocError(f"no predicate for {bits}-bit vectors in this unit")
        return self.p_width[bits]

    def k_capacity(self, k: int) -> int:
        """How many mask bits the home layout of k holds at this vector length."""
        return self.vl // 8 // LAYOUT_BYTES[self.layout_of_k(k)]

    def setup_lines(self) -> list[str]:
        """A64 that establishes the constant predicates this unit relies on."""
        lines = [f"ptrue p{self.p_all}.b"]
        for bits, p in sorted(self.p_width.items()):
            lines.append(f"ptrue p{p}.b, vl{bits // 8}")
        for bits, p in sorted(self.p_upper.items()):
            lines.append(f"not p{p}.b, p{self.p_all}/z, p{self.p_width[bits]}.b")
        for (T, k), p in sorted(self.p_lane.items()):
            lines.append(f"ptrue p{p}.{T}, vl{k + 1}")
            if k:               # a temporary is free here: the unit has not started
                tmp = (self.free_p_low + self.free_p_high)[0]
                lines += [f"ptrue p{tmp}.{T}, vl{k}", f"bic p{p}.b, p{self.p_all}/z, p{p}.b, p{tmp}.b"]
        return lines

    def lane_pred(self, T: str, k: int):
        """The predicate of element ``k`` alone (size ``T``), or None when the unit has none."""
        return self.p_lane.get((T, k))


def lane_of(insn: Insn, T: Optional[str]) -> Optional[tuple[str, int]]:
    """(T, element) that the instruction's immediate selects within an xmm (vpinsr*: imm mod
    the element count), or None (no immediate, no element size)."""
    if T not in LAYOUT_BYTES:
        return None
    imm = next((op for op in insn.ops if isinstance(op, Imm)), None)
    return None if imm is None else (T, imm.value % (16 // LAYOUT_BYTES[T]))

    def describe(self) -> dict:
        return {"vl": self.vl, "p_all": self.p_all, "p_width": dict(self.p_width), "p_upper": dict(self.p_upper),
                "k_pred": dict(self.k_pred), "k_layout": dict(self.k_layout),
                "gpr": dict(GPR_TO_X), "x_temps": list(X_TEMPS), "x_ctx": X_CTX}


def k_to_pred_bytes(value: int, layout: str, vl: int) -> bytes:
    """Encode an x86 mask value as predicate bytes in ``layout`` (bits above capacity dropped)."""
    e = LAYOUT_BYTES[layout]
    n = vl // 8 // e
    bits = 0
    for i in range(n):
        if value >> i & 1:
            bits |= 1 << (i * e)
    return bits.to_bytes(vl // 64, "little")


def pred_bytes_to_k(data: bytes, layout: str, vl: int) -> int:
    """Decode predicate bytes in ``layout`` into an x86 mask value."""
    e = LAYOUT_BYTES[layout]
    bits = int.from_bytes(data, "little")
    value = 0
    for i in range(vl // 8 // e):
        if bits >> (i * e) & 1:
            value |= 1 << i
    return value
