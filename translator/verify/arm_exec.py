"""Run A64/SVE snippets on unicorn, in process, from an ``ArmState`` to an ``ArmState``.

How a run works
---------------
Unicorn cannot read or write the SVE registers directly, so all architectural state moves through
memory.  One machine (a ``Uc`` with SVE on, at one vector length) is kept per VL and reused:

    CODE_BASE      b PROLOGUE_ADDR   (unicorn drops the block at the start address on every
                                      emu_start, so the entry is a one-word stub)
    PROLOGUE_ADDR  sp = STATE_BASE; ldr z0..z31, p0..p15; msr nzcv, fpcr; ldp x0..x30; b snippet
    EPILOGUE_ADDR  stp x0..x30; mrs nzcv, fpcr; str p0..p15, z0..z31; b STOP_ADDR
    STOP_ADDR      emulation stops here (qemu_exec patches it to jump back to its host program)
    SNIPPET_ADDR   the caller's code (``snippet_address``), followed by ``b EPILOGUE_ADDR``

The trampoline never changes, so it stays translated; only the snippet's own blocks are thrown
away when the code changes.  All state goes in with one ``mem_write`` and comes back with one
``mem_read`` (cheaper than 33 ``reg_write`` calls).  ``sp`` is the trampoline's base register: it
is not part of ``ArmState`` and translated code must not touch it.

State buffer at STATE_BASE (VLB = VL/8, PLB = VL/64 bytes)::

    +0                 z0..z31      (VLB each)
    +32*VLB            p0..p15      (PLB each)
    +32*VLB+16*PLB     x0..x30, nzcv, fpcr   (8 bytes each)

Conventions: ``nzcv`` is the NZCV register as ``mrs x, nzcv`` reads it (flags in bits 31..28);
``fpcr`` is the raw FPCR.  ``x`` values come back unsigned.

Memory: the 4 KiB window at ``state.mem_base`` is the only data memory mapped besides a private
scratch area (``SCRATCH_BASE``, ``SCRATCH_SIZE``; translations may point a register such as x28 at
it for spills; it is not cleared between runs and is not part of the state).  The code region is
read/execute only (literal pools work).  The state buffer at STATE_BASE (0x40000000) is mapped too,
far from anything a snippet should touch.  Any other access faults and raises ``ArmExecError``
naming the snippet offset and the address.  If ``mem_base`` is not page aligned, the whole pages
around the window are mapped.  ``max_insns`` is enforced with unicorn's instruction count.
"""
from __future__ import annotations

import struct
from typing import Iterable, Optional, Sequence, Union

from .state import MEM_SIZE, ArmState

__all__ = ["ArmRunner", "ArmExecError", "ArmExecUnavailable", "CODE_BASE", "SNIPPET_ADDR",
           "snippet_address", "SCRATCH_BASE", "SCRATCH_SIZE", "STATE_BASE", "MAX_SNIPPET",
           "PROLOGUE_ADDR", "EPILOGUE_ADDR", "STOP_ADDR",
           "VALID_VLS", "state_buffer", "parse_state_buffer", "trampoline_words", "branch_word",
           "trampoline_image", "snippet_image", "check_window", "state_size"]


class ArmExecError(RuntimeError):
    """The snippet faulted, trapped or did not finish.

    ``offset`` is the pc at the fault relative to the snippet start (None if unknown),
    ``address`` the faulting data address (None if not a memory fault)."""

    def __init__(self, message: str, offset: int | None = None, address: int | None = None):
        super().__init__(message)
        self.offset = offset
        self.address = address


class ArmExecUnavailable(RuntimeError):
    """The execution engine cannot be used here (missing package, tool or feature)."""


# ---------------------------------------------------------------------------------------------
# Address map (all fixed; see module docstring)

CODE_BASE = 0x100000                          # entry: ``b PROLOGUE_ADDR`` (see _Machine.run)
PROLOGUE_ADDR = CODE_BASE + 0x40
EPILOGUE_ADDR = CODE_BASE + 0x800
STOP_ADDR = CODE_BASE + 0xC00                 # the epilogue branches here; emulation stops here
SNIPPET_ADDR = CODE_BASE + 0x1000
MAX_SNIPPET = 0x100000 - 0x1000 - 4          # snippet bytes that fit before the region ends
CODE_SIZE = 0x100000                          # code region: CODE_BASE .. 0x200000 (exclusive)
STATE_BASE = 0x40000000                       # state buffer, far from anything a snippet uses
STATE_SIZE = 0x10000
SCRATCH_BASE = 0x7F0000
SCRATCH_SIZE = 0x10000
snippet_address = SNIPPET_ADDR
VALID_VLS = tuple(range(128, 2049, 128))
_PAGE = 0x1000

SP = 31
_X_NZCV = 31 * 8                               # offsets inside the x block
_X_FPCR = 32 * 8
_X_BLOCK = 33 * 8


# ---------------------------------------------------------------------------------------------
# The few A64 encodings the trampoline needs (checked against llvm-mc in tests/test_arm_exec.py)

def _sve_ldst(base: int, t: int, rn: int, imm: int) -> int:
    """LDR/STR (vector or predicate): base | imm9h<<16 | imm9l<<10 | Rn<<5 | t, imm in MUL VL."""
    assert -256 <= imm <= 255
    imm &= 0x1FF
    return base | (imm >> 3) << 16 | (imm & 7) << 10 | rn << 5 | t


def ldr_z(zt: int, rn: int, imm: int = 0) -> int:   # 1000010110 imm9h 010 imm9l Rn Zt
    return _sve_ldst(0x85804000, zt, rn, imm)


def str_z(zt: int, rn: int, imm: int = 0) -> int:   # 1110010110 imm9h 010 imm9l Rn Zt
    return _sve_ldst(0xE5804000, zt, rn, imm)


def ldr_p(pt: int, rn: int, imm: int = 0) -> int:   # 1000010110 imm9h 000 imm9l Rn 0 Pt
    return _sve_ldst(0x85800000, pt, rn, imm)


def str_p(pt: int, rn: int, imm: int = 0) -> int:   # 1110010110 imm9h 000 imm9l Rn 0 Pt
    return _sve_ldst(0xE5800000, pt, rn, imm)


def addvl(rd: int, rn: int, imm: int) -> int:        # 00000100 001 Rn 01010 imm6 Rd
    assert -32 <= imm <= 31
    return 0x04205000 | rn << 16 | (imm & 0x3F) << 5 | rd


def addpl(rd: int, rn: int, imm: int) -> int:        # 00000100 011 Rn 01010 imm6 Rd
    assert -32 <= imm <= 31
    return 0x04605000 | rn << 16 | (imm & 0x3F) << 5 | rd


def ldp_x(rt: int, rt2: int, rn: int, off: int) -> int:
    assert off % 8 == 0 and -512 <= off <= 504
    return 0xA9400000 | ((off // 8) & 0x7F) << 15 | rt2 << 10 | rn << 5 | rt


def stp_x(rt: int, rt2: int, rn: int, off: int) -> int:
    assert off % 8 == 0 and -512 <= off <= 504
    return 0xA9000000 | ((off // 8) & 0x7F) << 15 | rt2 << 10 | rn << 5 | rt


def ldr_x(rt: int, rn: int, off: int) -> int:
    assert off % 8 == 0 and 0 <= off < 32768
    return 0xF9400000 | (off // 8) << 10 | rn << 5 | rt


def str_x(rt: int, rn: int, off: int) -> int:
    assert off % 8 == 0 and 0 <= off < 32768
    return 0xF9000000 | (off // 8) << 10 | rn << 5 | rt


def movz_x(rd: int, imm16: int, shift: int = 0) -> int:
    return 0xD2800000 | (shift // 16) << 21 | imm16 << 5 | rd


def movk_x(rd: int, imm16: int, shift: int = 0) -> int:
    return 0xF2800000 | (shift // 16) << 21 | imm16 << 5 | rd


def mov_sp_x(rn: int) -> int:                        # add sp, xn, #0
    return 0x91000000 | rn << 5 | SP


MRS_NZCV, MSR_NZCV = 0xD53B4200, 0xD51B4200          # | Rt
MRS_FPCR, MSR_FPCR = 0xD53B4400, 0xD51B4400
BRK0 = 0xD4200000


def branch_word(frm: int, to: int) -> int:
    """``b to`` placed at address ``frm``."""
    off = to - frm
    assert off % 4 == 0 and -(1 << 27) <= off < (1 << 27)
    return 0x14000000 | ((off >> 2) & 0x3FFFFFF)


def trampoline_words() -> tuple[list[int], list[int]]:
    """(prologue, epilogue) as A64 words; independent of the vector length."""
    pro = [movz_x(0, STATE_BASE & 0xFFFF), movk_x(0, (STATE_BASE >> 16) & 0xFFFF, 16),
           mov_sp_x(0)]
    pro += [ldr_z(i, SP, i) for i in range(32)]
    pro += [addvl(SP, SP, 16), addvl(SP, SP, 16)]     # sp -> p block
    pro += [ldr_p(i, SP, i) for i in range(16)]
    pro += [addpl(SP, SP, 16)]                        # sp -> x block
    pro += [ldr_x(0, SP, _X_NZCV), MSR_NZCV | 0, ldr_x(0, SP, _X_FPCR), MSR_FPCR | 0]
    pro += [ldp_x(i, i + 1, SP, 8 * i) for i in range(0, 30, 2)] + [ldr_x(30, SP, 240)]
    pro.append(branch_word(PROLOGUE_ADDR + 4 * len(pro), SNIPPET_ADDR))

    epi = [stp_x(i, i + 1, SP, 8 * i) for i in range(0, 30, 2)] + [str_x(30, SP, 240)]
    epi += [MRS_NZCV | 0, str_x(0, SP, _X_NZCV), MRS_FPCR | 0, str_x(0, SP, _X_FPCR)]
    epi += [addpl(SP, SP, -16)] + [str_p(i, SP, i) for i in range(16)]
    epi += [addvl(SP, SP, -16), addvl(SP, SP, -16)] + [str_z(i, SP, i) for i in range(32)]
    epi.append(branch_word(EPILOGUE_ADDR + 4 * len(epi), STOP_ADDR))
    return pro, epi


_PRO, _EPI = trampoline_words()
_TRAMPOLINE_INSNS = 1 + len(_PRO) + len(_EPI)
assert PROLOGUE_ADDR + 4 * len(_PRO) <= EPILOGUE_ADDR
assert EPILOGUE_ADDR + 4 * len(_EPI) <= STOP_ADDR


def _words(ws: Iterable[int]) -> bytes:
    ws = list(ws)
    return struct.pack(f"<{len(ws)}I", *ws)


def trampoline_image() -> bytes:
    """The code region from CODE_BASE up to SNIPPET_ADDR: entry stub, prologue, epilogue and a
    ``brk`` at STOP_ADDR (a host that cannot stop emulation there patches it)."""
    img = bytearray(SNIPPET_ADDR - CODE_BASE)
    for addr, ws in ((CODE_BASE, [branch_word(CODE_BASE, PROLOGUE_ADDR)]), (PROLOGUE_ADDR, _PRO),
                     (EPILOGUE_ADDR, _EPI), (STOP_ADDR, [BRK0])):
        b = _words(ws)
        img[addr - CODE_BASE:addr - CODE_BASE + len(b)] = b
    return bytes(img)


def snippet_image(code: bytes) -> bytes:
    """``code`` followed by the branch to the epilogue, as placed at SNIPPET_ADDR."""
    n = len(code)
    if n % 4:
        raise ValueError(f"A64 code must be a whole number of 4-byte words, got {n} bytes")
    if n > MAX_SNIPPET:
        raise ValueError(f"snippet of {n} bytes exceeds the {MAX_SNIPPET}-byte code region")
    return bytes(code) + _words([branch_word(SNIPPET_ADDR + n, EPILOGUE_ADDR)])


def check_window(base: int) -> None:
    """Raise ValueError if a data window at ``base`` would overlap the runner's own regions."""
    start = base & ~(_PAGE - 1)
    end = (base + MEM_SIZE + _PAGE - 1) & ~(_PAGE - 1)
    if base < 0 or end > 1 << 48:
        raise ValueError(f"mem_base {base:#x} is not a usable address")
    for lo, hi, what in ((CODE_BASE, CODE_BASE + CODE_SIZE, "code"),
                         (STATE_BASE, STATE_BASE + STATE_SIZE, "state buffer"),
                         (SCRATCH_BASE, SCRATCH_BASE + SCRATCH_SIZE, "scratch")):
        if start < hi and lo < end:
            raise ValueError(f"mem_base {base:#x} overlaps the runner's {what} region "
                             f"[{lo:#x}, {hi:#x})")


# ---------------------------------------------------------------------------------------------
# State buffer packing (shared with qemu_exec)

_M64 = (1 << 64) - 1
_XPACK = struct.Struct("<33Q")


def state_buffer(state: ArmState, vl: int) -> bytes:
    """The trampoline's memory image of ``state``: z block, p block, x0..x30, nzcv, fpcr."""
    vlb, plb = vl // 8, vl // 64
    z, p = state.z, state.p
    if len(z) != 32 or len(p) != 16:
        raise ValueError(f"ArmState needs 32 z and 16 p registers, got {len(z)} and {len(p)}")
    zb = b"".join(z)
    pb = b"".join(p)
    if len(zb) != 32 * vlb or len(pb) != 16 * plb:
        bad = next((i for i, r in enumerate(z) if len(r) != vlb), None)
        what = f"z{bad} is {len(z[bad])} bytes" if bad is not None else \
            f"p{next(i for i, r in enumerate(p) if len(r) != plb)} has the wrong size"
        raise ValueError(f"ArmState does not match VL={vl}: {what} "
                         f"(want {vlb}-byte z and {plb}-byte p registers)")
    if len(state.x) != 31:
        raise ValueError(f"ArmState needs 31 x registers, got {len(state.x)}")
    try:
        xb = _XPACK.pack(*state.x, state.nzcv, state.fpcr)
    except struct.error:
        xb = _XPACK.pack(*[v & _M64 for v in state.x], state.nzcv & _M64, state.fpcr & _M64)
    return zb + pb + xb


def parse_state_buffer(buf: bytes, vl: int, mem_base: int, mem: bytes) -> ArmState:
    vlb, plb = vl // 8, vl // 64
    z = [buf[i:i + vlb] for i in range(0, 32 * vlb, vlb)]
    o = 32 * vlb
    p = [buf[o + i:o + i + plb] for i in range(0, 16 * plb, plb)]
    o += 16 * plb
    vals = _XPACK.unpack_from(buf, o)
    return ArmState(vl, z, p, list(vals[:31]), vals[31], vals[32], mem_base, mem)


def state_size(vl: int) -> int:
    return 32 * vl // 8 + 16 * vl // 64 + _X_BLOCK


# ---------------------------------------------------------------------------------------------

# QEMU's EXCP_* numbers as unicorn's interrupt hook reports them
_EXCP = {1: "undefined instruction", 2: "svc", 3: "prefetch abort", 4: "data abort",
         7: "brk", 11: "hvc", 12: "hypervisor trap", 13: "smc", 16: "unaligned access"}
# UC_MEM_* access types as the invalid-memory hook reports them
_ACCESS = {16: "read", 17: "write", 18: "fetch", 19: "read", 20: "write", 21: "fetch",
           22: "write", 23: "read", 24: "fetch", 25: "read"}


class _Machine:
    """One Uc with SVE at one VL, the trampoline mapped, and the last window/snippet remembered."""

    def __init__(self, vl: int):
        try:
            import unicorn as U
            from unicorn import arm64_const as A
        except ImportError as e:  # pragma: no cover - dependency is required by the package
            raise ArmExecUnavailable(f"unicorn is not installed: {e}") from None
        self.U, self.A = U, A
        self.vl = vl
        uc = U.Uc(U.UC_ARCH_ARM64, U.UC_MODE_ARM)
        uc.ctl_set_cpu_model(A.UC_CPU_ARM64_MAX)
        uc.reg_write(A.UC_ARM64_REG_CPACR_EL1, 0x330000)            # FPEN, ZEN: no traps at EL0/1
        # UC_ARM64_REG_CP_REG takes (crn, crm, op0, op1, op2, value).
        uc.reg_write(A.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 2, 1 << 8))  # CPTR_EL3.EZ
        for op1 in (6, 4, 0):                                       # ZCR_EL3, ZCR_EL2, ZCR_EL1
            uc.reg_write(A.UC_ARM64_REG_CP_REG, (1, 2, 3, op1, 0, vl // 128 - 1))
        uc.mem_map(CODE_BASE, CODE_SIZE, U.UC_PROT_READ | U.UC_PROT_EXEC)
        uc.mem_map(STATE_BASE, STATE_SIZE, U.UC_PROT_READ | U.UC_PROT_WRITE)
        uc.mem_map(SCRATCH_BASE, SCRATCH_SIZE, U.UC_PROT_READ | U.UC_PROT_WRITE)
        # Unicorn throws away the translation block at the start address on every emu_start,
        # so start at a one-branch stub: the big prologue/epilogue blocks stay translated.
        uc.mem_write(CODE_BASE, trampoline_image())
        self.uc = uc
        self.window: tuple[int, int] | None = None   # mapped (page start, size)
        self.win_base: int | None = None
        self.win_mem: bytes | None = None             # what the window holds now
        self.code: bytes | None = None
        self.code_len = 0
        self.fault: tuple | None = None
        self.size = state_size(vl)
        uc.hook_add(U.UC_HOOK_MEM_INVALID, self._on_bad_mem)
        uc.hook_add(U.UC_HOOK_INTR, self._on_intr)
        self._check_vl()

    # hooks ------------------------------------------------------------------------------
    def _on_bad_mem(self, uc, access, address, size, value, user_data):
        self.fault = ("mem", access, address, size, uc.reg_read(self.A.UC_ARM64_REG_PC))
        return False

    def _on_intr(self, uc, intno, user_data):
        self.fault = ("intr", intno, uc.reg_read(self.A.UC_ARM64_REG_PC))
        uc.emu_stop()

    # -------------------------------------------------------------------------------------
    def _check_vl(self) -> None:
        # rdvl x0, #1 as the snippet; the trampoline stores x0 back
        st = ArmState(self.vl)
        out = self.run(_words([0x04BF5020]), st, 10)
        if out.x[0] != self.vl // 8:
            raise ArmExecUnavailable(f"unicorn did not give VL={self.vl} (rdvl says "
                                     f"{out.x[0] * 8} bits)")

    def set_code(self, code: bytes) -> None:
        if code == self.code:
            return
        img = snippet_image(code)
        n = len(code)
        uc = self.uc
        end = SNIPPET_ADDR + n
        uc.mem_write(SNIPPET_ADDR, img)
        old_end = SNIPPET_ADDR + self.code_len + 4
        uc.ctl_remove_cache(SNIPPET_ADDR, max(end + 4, old_end))
        self.code = bytes(code)
        self.code_len = n

    def set_window(self, base: int, mem: bytes) -> None:
        mem = bytes(mem)          # no copy for bytes; a bytearray must not change under us
        if len(mem) != MEM_SIZE:
            raise ValueError(f"ArmState.mem must be {MEM_SIZE} bytes, got {len(mem)}")
        if base != self.win_base:
            U = self.U
            check_window(base)
            start = base & ~(_PAGE - 1)
            size = ((base + MEM_SIZE + _PAGE - 1) & ~(_PAGE - 1)) - start
            if self.window is not None:
                self.uc.mem_unmap(*self.window)
            self.window = None
            self.win_base = None
            self.uc.mem_map(start, size, U.UC_PROT_READ | U.UC_PROT_WRITE)
            self.window = (start, size)
            self.win_base = base
            self.win_mem = None
        if mem != self.win_mem:
            self.uc.mem_write(base, bytes(mem))
            self.win_mem = mem

    def run(self, code: bytes, state: ArmState, max_insns: int) -> ArmState:
        self.set_code(code)
        self.set_window(state.mem_base, state.mem)
        uc = self.uc
        uc.mem_write(STATE_BASE, state_buffer(state, self.vl))
        self.fault = None
        err = None
        try:
            uc.emu_start(CODE_BASE, STOP_ADDR, count=max_insns + _TRAMPOLINE_INSNS)
        except self.U.UcError as e:
            err = e
        pc = uc.reg_read(self.A.UC_ARM64_REG_PC)
        if err is not None or self.fault is not None or pc != STOP_ADDR:
            # the window may have been partly written; forget what we think it holds
            self.win_mem = None
            raise self._error(err, pc, max_insns)
        mem = uc.mem_read(state.mem_base, MEM_SIZE)
        mem = bytes(mem)
        self.win_mem = mem
        buf = uc.mem_read(STATE_BASE, self.size)
        return parse_state_buffer(bytes(buf), self.vl, state.mem_base, mem)

    def _where(self, pc: int) -> tuple[int | None, str]:
        off = pc - SNIPPET_ADDR
        if 0 <= off <= self.code_len:
            return off, f"at snippet offset {off:#x} (pc {pc:#x})"
        if CODE_BASE <= pc < SNIPPET_ADDR:
            return None, (f"in the load/store trampoline (pc {pc:#x}; did the snippet change sp "
                          f"or branch out?)")
        return None, f"at pc {pc:#x} (outside the snippet)"

    def _error(self, err, pc: int, max_insns: int) -> ArmExecError:
        f = self.fault
        if f is not None and f[0] == "mem":
            _, access, addr, size, fpc = f
            kind = _ACCESS.get(access, f"access type {access}")
            if kind == "fetch":
                off, where = self._where(addr)
                return ArmExecError(f"instruction fetch from unmapped/non-executable address "
                                    f"{addr:#x} (branch out of the snippet?)", off, addr)
            off, where = self._where(fpc)
            w = self.win_base
            region = (f"; the data window is [{w:#x}, {w + MEM_SIZE:#x})" if w is not None else "")
            how = "read-only memory" if access == 22 else "unmapped memory"
            return ArmExecError(f"{size}-byte {kind} of address {addr:#x} ({how}, outside the data "
                                f"window) {where}{region}", off, addr)
        if f is not None and f[0] == "intr":
            _, intno, ipc = f
            if intno == 2:          # svc reports the return address, the insn after it
                ipc -= 4
            off, where = self._where(ipc)
            name = _EXCP.get(intno, f"exception number {intno}")
            if intno == 1:
                where += " (unicorn has SVE but no SVE2: SVE2 forms need QemuRunner)"
            return ArmExecError(f"{name} {where}", off, None)
        if err is not None:
            off, where = self._where(pc)
            return ArmExecError(f"unicorn error: {err} {where}", off, None)
        off, where = self._where(pc)
        return ArmExecError(f"did not finish within {max_insns} instructions; stopped {where}",
                            off, None)


CodeArg = Union[bytes, bytearray, Sequence[bytes]]


class ArmRunner:
    """Runs A64/SVE snippets on unicorn.  ``vl`` is the default vector length (bits); a state's
    own ``vl`` decides the machine it runs on (one machine is kept per VL)."""

    snippet_address = SNIPPET_ADDR
    CODE_BASE = CODE_BASE
    SCRATCH_BASE = SCRATCH_BASE
    SCRATCH_SIZE = SCRATCH_SIZE

    def __init__(self, vl: int = 512):
        _check_vl(vl)
        self.vl = vl
        self._machines: dict[int, _Machine] = {}
        self._machine(vl)

    def _machine(self, vl: int) -> _Machine:
        m = self._machines.get(vl)
        if m is None:
            _check_vl(vl)
            m = self._machines[vl] = _Machine(vl)
        return m

    def new_state(self, **kw) -> ArmState:
        """A zero state at this runner's VL (keyword arguments go to ``ArmState``)."""
        return ArmState(self.vl, **kw)

    def run(self, code: bytes, state: ArmState, max_insns: int = 100000) -> ArmState:
        """Run ``code`` (A64 words, little-endian) from ``state``; return the state after it.

        Raises ``ArmExecError`` if it faults, traps (brk, udf, svc) or runs more than
        ``max_insns`` instructions, and ``ValueError`` for a malformed state or code."""
        return self._machine(state.vl).run(code, state, max_insns)

    def run_many(self, code: CodeArg, states: Sequence[ArmState], max_insns: int = 100000,
                 errors: str = "raise") -> list:
        """Run one snippet (or one per state: a list of codes) from each state.

        ``errors="raise"`` stops at the first ``ArmExecError``; ``errors="return"`` puts the
        exception object in the result list in place of that state and carries on."""
        codes = _codes_for(code, len(states))
        out: list = []
        for c, st in zip(codes, states):
            if errors == "raise":
                out.append(self._machine(st.vl).run(c, st, max_insns))
            else:
                try:
                    out.append(self._machine(st.vl).run(c, st, max_insns))
                except ArmExecError as e:
                    out.append(e)
        return out

    def reset_scratch(self) -> None:
        """Zero the scratch area of every machine."""
        for m in self._machines.values():
            m.uc.mem_write(SCRATCH_BASE, bytes(SCRATCH_SIZE))

    def write_scratch(self, offset: int, data: bytes, vl: Optional[int] = None) -> None:
        """Write ``data`` at ``SCRATCH_BASE + offset`` of the machine for ``vl`` (default: this
        runner's): state the translation keeps in the scratch area (the MXCSR slot)."""
        if not 0 <= offset <= SCRATCH_SIZE - len(data):
            raise ValueError(f"scratch offset {offset:#x} (+{len(data)}) outside the scratch area")
        self._machine(vl or self.vl).uc.mem_write(SCRATCH_BASE + offset, bytes(data))


def _check_vl(vl: int) -> None:
    if vl not in VALID_VLS:
        raise ValueError(f"vector length must be a multiple of 128 in 128..2048 bits, got {vl}")


def _codes_for(code: CodeArg, n: int) -> list[bytes]:
    if isinstance(code, (bytes, bytearray, memoryview)):
        return [bytes(code)] * n
    codes = [bytes(c) for c in code]
    if len(codes) != n:
        raise ValueError(f"got {len(codes)} code snippets for {n} states")
    return codes
