"""Machine access for the x86 model: a mutable working copy of an X86State, effective addresses,
the 4 KiB memory window, GPR views (8/16/32/64, high bytes) and AVX-512 masked vector write-back.
"""
from __future__ import annotations

import numpy as np

from ...ir import GPR64, Gpr, Imm, Insn, KReg, Mem, Vec
from ..state import X86State

M64 = (1 << 64) - 1

# RFLAGS bits
CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
ARITH_FLAGS = CF | PF | AF | ZF | SF | OF


class Unmodelled(NotImplementedError):
    """The model has no semantics for this instruction form (``form`` names it)."""

    def __init__(self, form: str, why: str = ""):
        self.form = form
        super().__init__(f"{form}: {why}" if why else form)


class X86Fault(Exception):
    """The instruction faults: a memory access outside the window (#PF), misalignment (#GP),
    divide error (#DE)."""

    def __init__(self, kind: str, detail: str = "", address: int | None = None):
        self.kind = kind
        self.address = address
        super().__init__(f"{kind}: {detail}" if detail else kind)


_BITS_CACHE: dict[int, np.ndarray] = {}


def mask_bits(value: int, n: int) -> np.ndarray:
    """Low n bits of value as a bool array (element i = bit i)."""
    b = np.frombuffer((value & M64).to_bytes(8, "little"), dtype=np.uint8)
    return np.unpackbits(b, bitorder="little")[:n].astype(bool)


def bits_to_int(arr: np.ndarray) -> int:
    return int.from_bytes(np.packbits(arr.astype(np.uint8), bitorder="little").tobytes(), "little")


class Machine:
    """A working copy of a state with the helpers that instruction semantics need."""

    __slots__ = ("st", "insn", "mem", "undef", "fpflags")

    def __init__(self, state: X86State, insn: Insn):
        self.st = state.copy()
        self.insn = insn
        self.mem: bytearray | None = None      # lazily made writable
        self.undef = 0                          # RFLAGS bits left undefined
        self.fpflags = 0                        # MXCSR status flags raised

    def finish(self) -> X86State:
        if self.mem is not None:
            self.st.mem = bytes(self.mem)
        if self.fpflags:
            self.st.mxcsr |= self.fpflags & 0x3F
        return self.st

    def unmodelled(self, why: str = "") -> Unmodelled:
        return Unmodelled(self.insn.form, why)

    # ---- GPRs ---------------------------------------------------------------------------------
    def get(self, r: Gpr) -> int:
        v = self.st.gpr[GPR64[r.index]]
        if r.high8:
            return (v >> 8) & 0xFF
        return v & ((1 << r.bits) - 1)

    def set(self, r: Gpr, value: int) -> None:
        name = GPR64[r.index]
        old = self.st.gpr[name]
        if r.high8:
            self.st.gpr[name] = (old & ~0xFF00 & M64) | ((value & 0xFF) << 8)
        elif r.bits == 64:
            self.st.gpr[name] = value & M64
        elif r.bits == 32:                       # 32-bit writes zero-extend to 64
            self.st.gpr[name] = value & 0xFFFFFFFF
        else:                                    # 8/16-bit writes merge
            m = (1 << r.bits) - 1
            self.st.gpr[name] = (old & ~m & M64) | (value & m)

    # ---- memory -------------------------------------------------------------------------------
    def ea(self, m: Mem) -> int:
        if m.seg in ("fs", "gs"):
            raise self.unmodelled(f"{m.seg} segment override")
        if m.rip:
            return m.disp & M64
        a = m.disp
        bits = 64
        if m.base is not None:
            a += self.get(m.base)
            bits = m.base.bits
        if m.index is not None:
            if isinstance(m.index, Vec):
                raise self.unmodelled("VSIB addressing")
            a += self.get(m.index) * m.scale
            bits = m.index.bits if m.base is None else bits
        return a & ((1 << bits) - 1)

    def _check(self, addr: int, size: int) -> int:
        off = addr - self.st.mem_base
        if off < 0 or off + size > len(self.st.mem):
            raise X86Fault("#PF", f"{size}-byte access at {addr:#x} outside the window", addr)
        return off

    def read(self, addr: int, size: int) -> bytes:
        off = self._check(addr, size)
        src = self.mem if self.mem is not None else self.st.mem
        return bytes(src[off:off + size])

    def write(self, addr: int, data: bytes) -> None:
        off = self._check(addr, len(data))
        if self.mem is None:
            self.mem = bytearray(self.st.mem)
        self.mem[off:off + len(data)] = data

    def read_int(self, m: Mem, size: int | None = None, offset: int = 0) -> int:
        size = size or m.size
        return int.from_bytes(self.read((self.ea(m) + offset) & M64, size), "little")

    def write_int(self, m: Mem, value: int, size: int | None = None) -> None:
        size = size or m.size
        self.write(self.ea(m), (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def check_aligned(self, m: Mem, align: int) -> None:
        a = self.ea(m)
        if a % align:
            raise X86Fault("#GP", f"misaligned {align}-byte access at {a:#x}", a)

    # ---- operands of integer instructions ------------------------------------------------------
    def value(self, op, bits: int | None = None) -> int:
        """Unsigned value of a GPR / memory / immediate operand (immediate truncated to bits)."""
        if isinstance(op, Gpr):
            return self.get(op)
        if isinstance(op, Mem):
            return self.read_int(op, (bits // 8) if bits else None)
        if isinstance(op, Imm):
            return op.value & ((1 << (bits or 64)) - 1)
        raise self.unmodelled(f"operand {op}")

    def store(self, op, value: int, bits: int | None = None) -> None:
        if isinstance(op, Gpr):
            self.set(op, value)
        elif isinstance(op, Mem):
            self.write_int(op, value, (bits // 8) if bits else None)
        else:
            raise self.unmodelled(f"destination {op}")

    # ---- vectors --------------------------------------------------------------------------------
    def vreg(self, v: Vec, dtype, n: int | None = None) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.st.zmm[v.index], dtype=dt, count=n if n is not None else v.bits // 8 // dt.itemsize)

    def write_vreg_bytes(self, v: Vec, data: bytes, legacy: bool) -> None:
        """Write ``data`` to the low bytes of zmm[v]; VEX/EVEX zero the rest up to 512 bits,
        legacy SSE keeps it."""
        old = self.st.zmm[v.index]
        n = len(data)
        self.st.zmm[v.index] = data + (old[n:] if legacy else bytes(64 - n))

    @property
    def legacy(self) -> bool:
        return self.insn.encoding == "legacy"

    def kmask(self, n: int) -> np.ndarray | None:
        """The write mask as a bool array of n elements, or None for no masking."""
        if not self.insn.mask:
            return None
        return mask_bits(self.st.k[self.insn.mask], n)

    def load_vec(self, op, dtype, n: int, active: np.ndarray | None = None) -> np.ndarray:
        """n elements of dtype from a vector register, memory or a {1toN} broadcast. For memory
        with a mask, masked-off elements are not accessed (no fault) and read as 0."""
        dt = np.dtype(dtype)
        if isinstance(op, Vec):
            return self.vreg(op, dt, n)
        if isinstance(op, Mem):
            addr = self.ea(op)
            if op.bcst:
                if active is not None and not active.any():
                    return np.zeros(n, dtype=dt)
                return np.full(n, np.frombuffer(self.read(addr, dt.itemsize), dtype=dt)[0], dtype=dt)
            size = n * dt.itemsize
            off = addr - self.st.mem_base
            if active is None or (0 <= off and off + size <= len(self.st.mem)):
                return np.frombuffer(self.read(addr, size), dtype=dt).copy()
            out = np.zeros(n, dtype=dt)
            for i in np.nonzero(active)[0]:
                a = (addr + int(i) * dt.itemsize) & M64
                out[i] = np.frombuffer(self.read(a, dt.itemsize), dtype=dt)[0]
            return out
        raise self.unmodelled(f"vector operand {op}")

    def writeback(self, dst, result: np.ndarray, *, merge_old: np.ndarray | None = None) -> None:
        """Masked write of an element array to a vector register or memory.

        Register: {k} merges masked-off elements from the old destination (or ``merge_old``),
        {k}{z} zeroes them; VEX/EVEX zero bits above the vector length, legacy SSE keeps them.
        Memory: only the active elements are written (and only they can fault)."""
        n = len(result)
        m = self.kmask(n)
        if isinstance(dst, Vec):
            if m is not None:
                if self.insn.zeroing:
                    result = np.where(m, result, 0).astype(result.dtype)
                else:
                    old = merge_old if merge_old is not None else self.vreg(dst, result.dtype, n)
                    result = np.where(m, result, old)
            self.write_vreg_bytes(dst, result.tobytes(), self.legacy)
        elif isinstance(dst, Mem):
            addr = self.ea(dst)
            if m is None or m.all():
                self.write(addr, result.tobytes())
            else:
                es = result.dtype.itemsize
                raw = result.tobytes()
                for i in np.nonzero(m)[0]:
                    i = int(i)
                    self.write((addr + i * es) & M64, raw[i * es:(i + 1) * es])
        else:
            raise self.unmodelled(f"vector destination {dst}")

    # ---- opmask -------------------------------------------------------------------------------
    def kget(self, k: KReg) -> int:
        return self.st.k[k.index] & M64

    def kset(self, k: KReg, value: int) -> None:
        self.st.k[k.index] = value & M64


def vec_len(op) -> int:
    """Vector length in bits of a Vec operand."""
    return op.bits
