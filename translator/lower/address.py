"""Turning x86 memory operands into A64 addressing modes.

Each function returns ``(setup_lines, operand_text)``; setup lines compute the address into a
temporary when no A64 addressing mode can express base + index*scale + disp directly.
"""
from __future__ import annotations

from typing import Callable

from ..ir import Mem
from .regmap import X_TEMPS, RegMap


class AddressError(Exception):
    pass


def mov_imm(reg: str, value: int) -> list[str]:
    """Materialise a 64-bit constant in ``reg`` (x register) with movz/movn/movk."""
    value &= (1 << 64) - 1
    if value == 0:
        return [f"mov {reg}, xzr"] if reg.startswith("x") else [f"mov {reg}, wzr"]
    halves = [(value >> (16 * i)) & 0xFFFF for i in range(4)]
    inv = [(~h) & 0xFFFF for h in halves]
    if halves.count(0xFFFF) > halves.count(0):
        if halves.count(0xFFFF) == 4:          # all ones
            return [f"movn {reg}, #0"]
        first = next(i for i in range(4) if halves[i] != 0xFFFF)
        lines = [f"movn {reg}, #{inv[first]:#x}, lsl #{16 * first}"]
        lines += [f"movk {reg}, #{halves[i]:#x}, lsl #{16 * i}" for i in range(4)
                  if i != first and halves[i] != 0xFFFF]
        return lines
    first = next(i for i in range(4) if halves[i] != 0)
    lines = [f"movz {reg}, #{halves[first]:#x}, lsl #{16 * first}"]
    lines += [f"movk {reg}, #{halves[i]:#x}, lsl #{16 * i}" for i in range(4)
              if i != first and halves[i] != 0]
    return lines


def add_imm(dst: str, src: str, value: int, scratch: Callable[[], str]) -> list[str]:
    """dst = src + value (64-bit)."""
    if value == 0:
        return [] if dst == src else [f"mov {dst}, {src}"]
    op, mag = ("add", value) if value > 0 else ("sub", -value)
    if mag < 4096:
        return [f"{op} {dst}, {src}, #{mag}"]
    if mag < (1 << 24) and mag & 0xFFF == 0:
        return [f"{op} {dst}, {src}, #{mag >> 12}, lsl #12"]
    if mag < (1 << 24):
        return [f"{op} {dst}, {src}, #{mag >> 12}, lsl #12", f"{op} {dst}, {dst}, #{mag & 0xFFF}"]
    t = scratch()
    return mov_imm(t, value) + [f"add {dst}, {src}, {t}"]


class Addresser:
    """Address formation for one instruction; ``xtemp`` hands out temporary x registers and
    ``label_of`` maps an absolute address (rip-relative targets) to an assembly label."""

    def __init__(self, rm: RegMap, xtemp: Callable[[], str], label_of: Callable[[int], str] | None):
        self.rm = rm
        self.xtemp = xtemp
        self.label_of = label_of

    def _check(self, m: Mem) -> None:
        if m.seg in ("fs", "gs"):
            raise AddressError(f"segment override {m.seg} is not supported")
        for r in (m.base, m.index):
            if r is not None and getattr(r, "bits", 64) != 64:
                raise AddressError("32-bit address size is not supported")

    def xreg(self, gpr) -> str:
        return f"x{self.rm.x_of(gpr.index)}"

    def full(self, m: Mem) -> tuple[list[str], str]:
        """Compute the whole effective address into one x register; returns (lines, xreg)."""
        self._check(m)
        if m.rip:
            if self.label_of is None:
                raise AddressError("rip-relative operand outside a translated kernel")
            t = self.xtemp()
            return [f"adr {t}, {self.label_of(m.disp)}"], t
        if m.index is None and m.disp == 0 and m.base is not None:
            return [], self.xreg(m.base)
        t = self.xtemp()
        lines: list[str] = []
        if m.base is not None and m.index is not None:
            sh = {1: 0, 2: 1, 4: 2, 8: 3}[m.scale]
            lines.append(f"add {t}, {self.xreg(m.base)}, {self.xreg(m.index)}"
                         + (f", lsl #{sh}" if sh else ""))
            lines += add_imm(t, t, m.disp, self.xtemp)
        elif m.index is not None:
            sh = {1: 0, 2: 1, 4: 2, 8: 3}[m.scale]
            lines.append(f"lsl {t}, {self.xreg(m.index)}, #{sh}" if sh else f"mov {t}, {self.xreg(m.index)}")
            lines += add_imm(t, t, m.disp, self.xtemp)
        elif m.base is not None:
            lines += add_imm(t, self.xreg(m.base), m.disp, self.xtemp)
        else:
            lines += mov_imm(t, m.disp)
        return lines, t

    def vsib_base(self, m: Mem) -> tuple[list[str], str]:
        """VSIB (gather) operand: base + disp in one x register; the vector index is applied by
        the SVE gather's vector-offset addressing. A VSIB operand without a base is refused."""
        if m.seg in ("fs", "gs"):
            raise AddressError(f"segment override {m.seg} is not supported")
        if m.base is None or m.base.bits != 64 or m.rip:
            raise AddressError("VSIB operand without a 64-bit base register is not supported")
        if m.disp == 0:
            return [], self.xreg(m.base)
        t = self.xtemp()
        return add_imm(t, self.xreg(m.base), m.disp, self.xtemp), t

    def _base_disp(self, m: Mem) -> tuple[list[str], str, int]:
        """Reduce to base register + remaining displacement: base + index*scale goes into a
        temporary with one ``add`` (or ``lsl``) and the displacement is left for the caller to
        fold into its addressing mode."""
        self._check(m)
        if m.rip or (m.base is None and m.index is None):
            lines, r = self.full(m)
            return lines, r, 0
        if m.index is None:
            return [], self.xreg(m.base), m.disp
        sh = {1: 0, 2: 1, 4: 2, 8: 3}[m.scale]
        t = self.xtemp()
        if m.base is None:
            return [f"lsl {t}, {self.xreg(m.index)}, #{sh}" if sh else f"mov {t}, {self.xreg(m.index)}"], t, m.disp
        return [f"add {t}, {self.xreg(m.base)}, {self.xreg(m.index)}" + (f", lsl #{sh}" if sh else "")], t, m.disp

    def _rest(self, lines: list[str], base: str, disp: int) -> tuple[list[str], str]:
        """base + disp into a register: the base itself when it is already a temporary."""
        t = base if int(base[1:]) in X_TEMPS else self.xtemp()
        return lines + add_imm(t, base, disp, self.xtemp), f"[{t}]"

    def gpr(self, m: Mem, size: int) -> tuple[list[str], str]:
        """Operand for ldr/str of ``size`` bytes."""
        self._check(m)
        if (not m.rip and m.base is not None and m.index is not None and m.disp == 0
                and m.scale in (1, size)):
            sh = {1: 0, 2: 1, 4: 2, 8: 3}[size]
            ext = f", lsl #{sh}" if m.scale == size and sh else ""
            return [], f"[{self.xreg(m.base)}, {self.xreg(m.index)}{ext}]"
        lines, base, disp = self._base_disp(m)
        if disp == 0:
            return lines, f"[{base}]"
        if disp > 0 and disp % size == 0 and disp // size < 4096:
            return lines, f"[{base}, #{disp}]"
        if -256 <= disp < 256:
            return lines, f"[{base}, #{disp}]"      # ldur/stur form (assembler picks)
        return self._rest(lines, base, disp)

    def sve(self, m: Mem, esize: int) -> tuple[list[str], str]:
        """Operand for SVE contiguous ld1/st1 of whole vectors (element size ``esize``)."""
        self._check(m)
        vlb = self.rm.vl // 8
        if (not m.rip and m.base is not None and m.index is not None and m.disp == 0
                and m.scale == esize):
            sh = {1: 0, 2: 1, 4: 2, 8: 3}[esize]
            return [], f"[{self.xreg(m.base)}, {self.xreg(m.index)}" + (f", lsl #{sh}]" if sh else "]")
        lines, base, disp = self._base_disp(m)
        if disp == 0:
            return lines, f"[{base}]"
        if disp % vlb == 0 and -8 <= disp // vlb <= 7:
            return lines, f"[{base}, #{disp // vlb}, mul vl]"
        return self._rest(lines, base, disp)

    def replicate(self, m: Mem, esize: int) -> tuple[list[str], str]:
        """Operand for ld1r{b,h,w,d}: [xn, #imm] with imm = k*esize, 0 <= k < 64."""
        lines, base, disp = self._base_disp(m)
        if disp == 0:
            return lines, f"[{base}]"
        if disp > 0 and disp % esize == 0 and disp // esize < 64:
            return lines, f"[{base}, #{disp}]"
        return self._rest(lines, base, disp)
