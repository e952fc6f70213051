"""AVX-512 ground truth: run x86-64 cases on the bochs 2.7 emulator (bare metal, long mode).

``BochsRunner(cpu_model='tigerlake').run_many(code, states)`` writes a disk image holding a boot
sector, a loader and the batch, boots bochs on it (under ``script`` for the tty that bochs'
term display needs) and reads the results back from the same image.

Guest (all assembled here with iced-x86, see ``_build_loader``):
  * boot sector (0x7C00): BIOS int 13h reads the loader (LOADER_SECTORS from LBA 1) to 0x8000.
  * 16-bit stub (0x8000): A20, masks the PICs, builds identity page tables (2 MiB pages for
    0-1 GiB, except 0x200000-0x3FFFFF which uses a 4 KiB table with only the data window page
    0x200000 present), CR4 = PAE|OSFXSR|OSXMMEXCPT|OSXSAVE, EFER.LME, CR0 = PG|PE|MP|NE, far
    jump to 64-bit code.
  * 64-bit main (0x8800): XCR0 = CPUID.(0xD,0).EAX & 0xE7 (x87/SSE/AVX/opmask/ZMM_Hi256/Hi16_ZMM),
    IDT (32 interrupt gates on IST1), TSS; reads the batch header (LBA 64) then per case: ATA PIO
    read of the record, copy state area -> 0x100000, window -> 0x200000, code -> 0x400000;
    ``call`` the shared trampoline (_tramp.py; full zmm0-31/k0-7); write the area and window
    back to the case's output sectors.  Exceptions land in an IDT stub that records vector,
    error code, rip and CR2 and resumes at the trampoline's ``recover``.  At the end it prints
    ``X2SVE DONE`` on port 0xE9 and triple-faults (reset_on_triple_fault=0 makes bochs exit).

Record (in): sectors 0-7 state area (+case rsp, code length), 8-15 window, 16.. code.
Record (out): 16 sectors: area (status, magic, exception info) and window.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import time

import iced_x86 as ix

from ..verify.state import MEM_SIZE, X86State
from ._asm import Asm, Label, M
from ._tramp import (AREA_SIZE, OFF_CODELEN, OFF_EXC_ADDR, OFF_EXC_ERR, OFF_EXC_RIP, OFF_EXC_VEC,
                     OFF_IN_CASE, OFF_MAGIC, OFF_STATUS, OFF_CASE_RSP, build_trampoline,
                     exc_info, jmp_back, pack_area, unpack_area)
from .common import ExceptionResult, as_codes

BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGABIOS = "/usr/share/bochs/VGABIOS-lgpl-latest"

LOADER16 = 0x8000
MAIN64 = 0x8800
TRAMP = 0xB000
DATA = 0xE000
GDT, GDTR, IDTR, TSS, IDT = DATA, DATA + 0x40, DATA + 0x50, DATA + 0x80, DATA + 0x100
LOADER_END = DATA + 0x300
LOADER_SECTORS = (LOADER_END - LOADER16 + 511) // 512
HDR_BUF = 0xF000
AREA = 0x100000
WINDOW = 0x200000
CODE_SLOT = 0x400000
CASE_STACK_TOP = 0x7FF000
REC_BUF = 0x1000000
HOST_STACK = 0x90000
IST_STACK = 0x80000
HDR_LBA = 64
MAGIC = 0x58325356455F4F4B  # "KO_EVS2X"
CODE_MAX = 64 * 1024
ERRCODE_VECTORS = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
AVX512_MODELS = {"corei7_skylake_x", "corei3_cnl", "corei7_icelake_u", "tigerlake"}
CHS_CYL = 16 * 63 * 512


def available() -> bool:
    """bochs, its BIOS images and ``script`` (for the pty) are installed."""
    if not (shutil.which("bochs") and shutil.which("script") and os.path.exists(BIOS)
            and os.path.exists(VGABIOS)):
        return False
    try:                        # bochs' term display needs a pty (script provides one)
        m, sl = os.openpty()
        os.close(m)
        os.close(sl)
    except OSError:
        return False
    return True


# ------------------------------------------------------------------------------------------------
# image
def _build_boot() -> bytes:
    a = Asm(16, 0x7C00)
    a("CLI")
    a("XOR_R16_RM16", "ax", "ax")
    a("MOV_SREG_RM16", "ds", "ax")
    a("MOV_SREG_RM16", "es", "ax")
    a("MOV_SREG_RM16", "ss", "ax")
    a("MOV_R16_IMM16", "sp", 0x7C00)
    a("MOV_R8_IMM8", "ah", 2)                 # int 13h, ah=2: read CHS; dl = boot drive
    a("MOV_R8_IMM8", "al", LOADER_SECTORS)
    a("MOV_R16_IMM16", "cx", 2)               # cylinder 0, sector 2
    a("MOV_R8_IMM8", "dh", 0)
    a("MOV_R16_IMM16", "bx", LOADER16)
    a("INT_IMM8", 0x13)
    a("JB_REL16", Label("fail"))
    a.db(b"\xEA" + struct.pack("<HH", LOADER16, 0))   # jmp 0000:8000
    a.label("fail")
    a("MOV_R16_IMM16", "dx", 0xE9)
    for ch in b"X2SVE BOOT FAIL\n":
        a("MOV_R8_IMM8", "al", ch)
        a("OUT_DX_AL", "dx", "al")
    a("LIDT_M1632_16", M(disp=0x7C00 + 510 - 6))       # zero-limit IDT (bytes before 55AA)
    a("INT3")
    code, _ = a.assemble()
    sec = bytearray(512)
    sec[:len(code)] = code
    assert len(code) <= 500
    sec[510:512] = b"\x55\xAA"
    return bytes(sec)


def _build_stub16() -> bytes:
    a = Asm(16, LOADER16)
    a("CLI")
    a("IN_AL_IMM8", "al", 0x92)
    a("OR_AL_IMM8", "al", 2)
    a("OUT_IMM8_AL", 0x92, "al")
    a("MOV_R8_IMM8", "al", 0xFF)
    a("OUT_IMM8_AL", 0xA1, "al")
    a("OUT_IMM8_AL", 0x21, "al")
    # zero 0x1000-0x4FFF
    a("XOR_R32_RM32", "eax", "eax")
    a("MOV_R16_IMM16", "di", 0x1000)
    a("MOV_R32_IMM32", "ecx", 0x1000)
    a.raw(ix.Instruction.create_rep_stosd(16))
    a("MOV_RM32_IMM32", M(disp=0x1000), 0x2003)       # PML4[0] -> PDPT
    a("MOV_RM32_IMM32", M(disp=0x2000), 0x3003)       # PDPT[0] -> PD
    a("MOV_R16_IMM16", "di", 0x3000)                  # PD: 512 x 2 MiB pages
    a("MOV_R32_IMM32", "eax", 0x83)
    a("MOV_R16_IMM16", "cx", 512)
    a.label("pd")
    a("MOV_RM32_R32", M("di"), "eax")
    a("ADD_RM32_IMM32", "eax", 0x200000)
    a("ADD_RM16_IMM16", "di", 8)
    a("DEC_RM16", "cx")
    a("JNE_REL16", Label("pd"))
    a("MOV_RM32_IMM32", M(disp=0x3008), 0x4003)       # PD[1] -> PT (4 KiB pages)
    a("MOV_RM32_IMM32", M(disp=0x4000), WINDOW | 3)   # PT[0]: the data window only
    a("MOV_R32_IMM32", "eax", 0x1000)
    a("MOV_CR_R32", "cr3", "eax")
    a("MOV_R32_CR", "eax", "cr4")
    a("OR_RM32_IMM32", "eax", 0x20 | 0x200 | 0x400 | 0x40000)
    a("MOV_CR_R32", "cr4", "eax")
    a("MOV_R32_IMM32", "ecx", 0xC0000080)
    a("RDMSR")
    a("OR_RM32_IMM32", "eax", 0x100)
    a("WRMSR")
    a("LGDT_M1632", M(disp=GDTR))
    a("MOV_R32_CR", "eax", "cr0")
    a("AND_RM32_IMM32", "eax", ~0xC & 0xFFFFFFFF)      # clear EM, TS
    a("OR_RM32_IMM32", "eax", 0x80000023 - (1 << 32))   # PG | NE | MP | PE
    a("MOV_CR_R32", "cr0", "eax")
    a.db(b"\xEA" + struct.pack("<HH", MAIN64, 0x08))  # jmp 0x08:MAIN64
    code, _ = a.assemble()
    assert LOADER16 + len(code) <= MAIN64
    return code


def _ata_wait(a: Asm, tag: str, drq: bool) -> None:
    """Poll the primary ATA status port until BSY clear (and DRQ set)."""
    a.label(tag)
    a("MOV_R16_IMM16", "dx", 0x1F7)
    a("IN_AL_DX", "al", "dx")
    a("TEST_AL_IMM8", "al", 0x80)
    a("JNE_REL32_64", Label(tag))
    if drq:
        a("TEST_AL_IMM8", "al", 0x01)
        a("JNE_REL32_64", Label("fatal"))
        a("TEST_AL_IMM8", "al", 0x08)
        a("JE_REL32_64", Label(tag))


def _ata_sub(a: Asm, name: str, cmd: int) -> None:
    """``name``: eax = LBA, ecx = sectors (1..255), rdi/rsi = buffer.  PIO read (0x20) / write (0x30)."""
    a.label(name)
    a("MOV_R32_RM32", "ebx", "eax")
    a("MOV_R32_RM32", "r8d", "ecx")
    _ata_wait(a, name + "_w0", False)
    a("MOV_R16_IMM16", "dx", 0x1F6)
    a("MOV_R32_RM32", "eax", "ebx")
    a("SHR_RM32_IMM8", "eax", 24)
    a("AND_AL_IMM8", "al", 0x0F)
    a("OR_AL_IMM8", "al", 0xE0)
    a("OUT_DX_AL", "dx", "al")
    a("MOV_R16_IMM16", "dx", 0x1F2)
    a("MOV_R32_RM32", "eax", "r8d")
    a("OUT_DX_AL", "dx", "al")
    a("MOV_R32_RM32", "eax", "ebx")
    for port in (0x1F3, 0x1F4, 0x1F5):
        a("MOV_R16_IMM16", "dx", port)
        a("OUT_DX_AL", "dx", "al")
        a("SHR_RM32_IMM8", "eax", 8)
    a("MOV_R16_IMM16", "dx", 0x1F7)
    a("MOV_R8_IMM8", "al", cmd)
    a("OUT_DX_AL", "dx", "al")
    a.label(name + "_sec")
    _ata_wait(a, name + "_w1", True)
    a("MOV_R16_IMM16", "dx", 0x1F0)
    a("MOV_R32_IMM32", "ecx", 256)
    if cmd == 0x20:
        a.raw(ix.Instruction.create_rep_insw(64))
    else:
        a.raw(ix.Instruction.create_rep_outsw(64))
    a("DEC_RM32", "r8d")
    a("JNE_REL32_64", Label(name + "_sec"))
    _ata_wait(a, name + "_w2", False)
    a("RETNQ")


def _build_main64(labels_t: dict) -> tuple[bytes, dict]:
    a = Asm(64, MAIN64, externs={"t_entry": labels_t["entry"], "t_recover": labels_t["recover"]})
    a("MOV_R32_IMM32", "eax", 0x10)
    for sreg in ("ds", "es", "ss", "fs", "gs"):
        a("MOV_SREG_R32M16", sreg, "eax")
    a("MOV_R32_IMM32", "esp", HOST_STACK)
    # XCR0 = supported & (x87|SSE|AVX|opmask|ZMM_Hi256|Hi16_ZMM)
    a("MOV_R32_IMM32", "eax", 0xD)
    a("XOR_R32_RM32", "ecx", "ecx")
    a("CPUID")
    a("AND_EAX_IMM32", "eax", 0xE7)
    a("XOR_R32_RM32", "edx", "edx")
    a("XOR_R32_RM32", "ecx", "ecx")
    a("XSETBV")
    a("LIDT_M1664", M(disp=IDTR))
    a("MOV_R32_IMM32", "eax", 0x18)
    a("LTR_R32M16", "eax")
    a("MOV_R16_IMM16", "dx", 0x3F6)                 # nIEN: no IRQ14
    a("MOV_R8_IMM8", "al", 2)
    a("OUT_DX_AL", "dx", "al")
    # header: u32 n, u32 rec_sectors, u32 in_lba, u32 out_lba
    a("MOV_R32_IMM32", "eax", HDR_LBA)
    a("MOV_R32_IMM32", "ecx", 1)
    a("MOV_R32_IMM32", "edi", HDR_BUF)
    a("CALL_REL32_64", Label("ata_read"))
    a("XOR_R32_RM32", "r12d", "r12d")               # r12 = case index
    a.label("loop")
    a("CMP_R32_RM32", "r12d", M(disp=HDR_BUF))
    a("JAE_REL32_64", Label("done"))
    # read record i: lba = in_lba + i * rec_sectors
    a("MOV_R32_RM32", "eax", "r12d")
    a("IMUL_R32_RM32", "eax", M(disp=HDR_BUF + 4))
    a("ADD_R32_RM32", "eax", M(disp=HDR_BUF + 8))
    a("MOV_R32_RM32", "ecx", M(disp=HDR_BUF + 4))
    a("MOV_R32_IMM32", "edi", REC_BUF)
    a("CALL_REL32_64", Label("ata_read"))
    # area page, window, code
    for src, dst, qw in ((REC_BUF, AREA, 512), (REC_BUF + 0x1000, WINDOW, 512)):
        a("MOV_R32_IMM32", "esi", src)
        a("MOV_R32_IMM32", "edi", dst)
        a("MOV_R32_IMM32", "ecx", qw)
        a.raw(ix.Instruction.create_rep_movsq(64))
    a("MOV_R32_IMM32", "esi", REC_BUF + 0x2000)
    a("MOV_R32_IMM32", "edi", CODE_SLOT)
    a("MOV_R32_RM32", "ecx", M(disp=AREA + OFF_CODELEN))
    a.raw(ix.Instruction.create_rep_movsb(64))
    a("CALL_REL32_64", Label("t_entry"))
    a("MOV_RM64_R64", M(disp=AREA + OFF_STATUS), "rax")
    a("MOV_R64_IMM64", "rax", MAGIC)
    a("MOV_RM64_R64", M(disp=AREA + OFF_MAGIC), "rax")
    a("MOV_R32_IMM32", "esi", WINDOW)
    a("MOV_R32_IMM32", "edi", AREA + 0x1000)
    a("MOV_R32_IMM32", "ecx", 512)
    a.raw(ix.Instruction.create_rep_movsq(64))
    a("MOV_R32_RM32", "eax", "r12d")
    a("SHL_RM32_IMM8", "eax", 4)
    a("ADD_R32_RM32", "eax", M(disp=HDR_BUF + 12))
    a("MOV_R32_IMM32", "ecx", 16)
    a("MOV_R32_IMM32", "esi", AREA)
    a("CALL_REL32_64", Label("ata_write"))
    a("INC_RM32", "r12d")
    a("JMP_REL32_64", Label("loop"))
    a.label("done")
    a("MOV_R32_IMM32", "esi", 0)                    # (flush cache: 0xE7)
    a("MOV_R16_IMM16", "dx", 0x1F7)
    a("MOV_R8_IMM8", "al", 0xE7)
    a("OUT_DX_AL", "dx", "al")
    _ata_wait(a, "flush_w", False)
    _print(a, b"X2SVE DONE\n")
    a("JMP_REL32_64", Label("die"))
    a.label("fatal")
    _print(a, b"X2SVE FATAL\n")
    a.label("die")
    a("LIDT_M1664", M(disp=IDTR + 0x10))            # zero-limit IDT -> triple fault -> exit
    a("INT3")
    _ata_sub(a, "ata_read", 0x20)
    _ata_sub(a, "ata_write", 0x30)
    # exception stubs: push err(0 if none), push vector, jmp exc
    for v in range(32):
        a.label(f"isr{v}")
        if v not in ERRCODE_VECTORS:
            a("PUSHQ_IMM8", 0)
        a("PUSHQ_IMM8", v)
        a("JMP_REL32_64", Label("exc"))
    a.label("exc")
    a("CMP_RM64_IMM8", M(disp=AREA + OFF_IN_CASE), 0)
    a("JE_REL32_64", Label("fatal"))
    a("POP_RM64", M(disp=AREA + OFF_EXC_VEC))
    a("POP_RM64", M(disp=AREA + OFF_EXC_ERR))
    a("POP_RM64", M(disp=AREA + OFF_EXC_RIP))
    a("MOV_R64_CR", "rax", "cr2")
    a("MOV_RM64_R64", M(disp=AREA + OFF_EXC_ADDR), "rax")
    a("JMP_REL32_64", Label("t_recover"))
    code, labels = a.assemble()
    assert MAIN64 + len(code) <= TRAMP, hex(len(code))
    return code, labels


def _print(a: Asm, text: bytes) -> None:
    a("MOV_R16_IMM16", "dx", 0xE9)
    for ch in text:
        a("MOV_R8_IMM8", "al", ch)
        a("OUT_DX_AL", "dx", "al")


def _build_data(labels: dict) -> bytes:
    d = bytearray(LOADER_END - DATA)
    gdt = [0, 0x00209A0000000000, 0x00CF92000000FFFF]
    tss_lo = ((103 & 0xFFFF) | ((TSS & 0xFFFFFF) << 16) | (0x89 << 40) | (((TSS >> 24) & 0xFF) << 56))
    gdt += [tss_lo, TSS >> 32]
    for i, g in enumerate(gdt):
        struct.pack_into("<Q", d, GDT - DATA + 8 * i, g)
    struct.pack_into("<HQ", d, GDTR - DATA, 8 * len(gdt) - 1, GDT)
    struct.pack_into("<HQ", d, IDTR - DATA, 32 * 16 - 1, IDT)
    # IDTR + 0x10: zero-limit IDT (used to triple-fault out)
    struct.pack_into("<Q", d, TSS - DATA + 0x24, IST_STACK)     # IST1
    struct.pack_into("<Q", d, TSS - DATA + 0x04, HOST_STACK)    # RSP0
    struct.pack_into("<H", d, TSS - DATA + 0x66, 104)           # no I/O bitmap
    for v in range(32):
        h = labels[f"isr{v}"]
        struct.pack_into("<HHBBHII", d, IDT - DATA + 16 * v, h & 0xFFFF, 0x08, 1, 0x8E,
                         (h >> 16) & 0xFFFF, h >> 32, 0)
    return bytes(d)


def build_loader(full: bool = True) -> tuple[bytes, dict]:
    """Boot sector + loader sectors (LBA 0 .. LOADER_SECTORS) and the trampoline labels."""
    tramp, lt = build_trampoline(TRAMP, AREA, CODE_SLOT, full, 0x2)
    assert TRAMP + len(tramp) <= DATA
    main, lm = _build_main64(lt)
    img = bytearray(LOADER_END - LOADER16)
    stub = _build_stub16()
    img[0:len(stub)] = stub
    img[MAIN64 - LOADER16:MAIN64 - LOADER16 + len(main)] = main
    img[TRAMP - LOADER16:TRAMP - LOADER16 + len(tramp)] = tramp
    img[DATA - LOADER16:] = _build_data(lm)
    img += bytes(-len(img) % 512)
    return _build_boot() + bytes(img), lt


# ------------------------------------------------------------------------------------------------
class BochsRunner:
    def __init__(self, cpu_model: str = "tigerlake", timeout: float | None = None,
                 batch: int = 4096, workdir: str | None = None):
        if not available():
            raise RuntimeError("bochs (with /usr/share/bochs BIOS images) and script are needed")
        self.cpu_model = cpu_model
        self.full = cpu_model in AVX512_MODELS
        self.timeout = timeout
        self.batch = batch
        key = hashlib.sha1(open(__file__, "rb").read() + open(_tramp_path(), "rb").read()
                           + cpu_model.encode()).hexdigest()[:12]
        self.dir = workdir or os.path.join(tempfile.gettempdir(), f"x2sve-bochs-{os.getuid()}-{key}")
        os.makedirs(self.dir, exist_ok=True)
        lp = os.path.join(self.dir, f"loader-{int(self.full)}.bin")
        self.loader, lt = build_loader(self.full)
        self.back = lt["back"]
        if not os.path.exists(lp):
            with open(lp + ".tmp", "wb") as f:
                f.write(self.loader)
            os.replace(lp + ".tmp", lp)
        self.last_log = ""

    def run(self, code: bytes, state: X86State):
        return self.run_many(code, [state])[0]

    def run_many(self, code, states: list[X86State]) -> list[X86State | ExceptionResult]:
        codes = as_codes(code, len(states))
        out: list = []
        i = 0
        while i < len(states):
            res = self._run_batch(codes[i:i + self.batch], states[i:i + self.batch])
            out += res
            i += len(res)
        return out

    # one bochs boot; returns results for a prefix of the batch (at least one case)
    def _run_batch(self, codes: list[bytes], states: list[X86State]) -> list:
        n = len(states)
        bodies = [jmp_back(c, CODE_SLOT, self.back) for c in codes]
        if max(len(b) for b in bodies) > CODE_MAX:
            raise ValueError("case code too long")
        code_sec = (max(len(b) for b in bodies) + 511) // 512
        rec_sec = 16 + code_sec
        in_lba = HDR_LBA + 1
        out_lba = in_lba + n * rec_sec
        total = out_lba + 16 * n
        size = -(-total * 512 // CHS_CYL) * CHS_CYL
        tag = f"{os.getpid()}-{time.monotonic_ns()}"
        img_path = os.path.join(self.dir, f"batch-{tag}.img")
        rc_path = os.path.join(self.dir, f"rc-{tag}")
        cfg_path = os.path.join(self.dir, f"bochsrc-{tag}")
        log_path = os.path.join(self.dir, f"log-{tag}.txt")
        try:
            with open(img_path, "wb") as f:
                f.write(self.loader)
                f.seek(HDR_LBA * 512)
                f.write(struct.pack("<IIII", n, rec_sec, in_lba, out_lba).ljust(512, b"\0"))
                for s, b in zip(states, bodies):
                    area = pack_area(s)
                    struct.pack_into("<Q", area, OFF_CASE_RSP, CASE_STACK_TOP)
                    struct.pack_into("<Q", area, OFF_CODELEN, len(b))
                    mem = bytes(s.mem).ljust(MEM_SIZE, b"\0")[:MEM_SIZE]
                    if s.mem_base != WINDOW:
                        raise ValueError(f"bochs runner maps the window at {WINDOW:#x} only")
                    f.write(bytes(area).ljust(4096, b"\0") + mem + b.ljust(code_sec * 512, b"\0"))
                f.truncate(size)
            with open(rc_path, "w") as f:
                f.write("c\nquit\n")
            with open(cfg_path, "w") as f:
                f.write(self._config(img_path, log_path))
            timeout = self.timeout or (10.0 + 0.005 * n)
            cmd = f"bochs -q -unlock -f {cfg_path} -rc {rc_path}"
            try:
                p = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=timeout)
                self.last_log = p.stdout.decode("latin-1", "replace")
                hung = False
            except subprocess.TimeoutExpired as e:
                self.last_log = (e.stdout or b"").decode("latin-1", "replace")
                hung = True
            res = []
            with open(img_path, "rb") as f:
                f.seek(out_lba * 512)
                for i, s in enumerate(states):
                    rec = f.read(8192)
                    area, mem = rec[:AREA_SIZE], rec[4096:8192]
                    if len(rec) < 8192 or struct.unpack_from("<Q", area, OFF_MAGIC)[0] != MAGIC:
                        if hung:        # case i never finished: report it, rerun the rest
                            res.append(ExceptionResult(None, "timeout"))
                        elif not res:
                            raise RuntimeError("bochs run failed:\n" + self.last_log[-3000:])
                        break
                    if struct.unpack_from("<Q", area, OFF_STATUS)[0] == 0:
                        res.append(unpack_area(area, s, mem, self.full, CASE_STACK_TOP))
                    else:
                        e = exc_info(area)
                        off = e["rip"] - CODE_SLOT
                        res.append(ExceptionResult.from_vector(
                            e["vector"], error_code=e["error_code"],
                            rip_offset=off if 0 <= off < len(codes[i]) else None,
                            addr=e["addr"] if e["vector"] == 14 else None))
            return res
        finally:
            for pth in (img_path, rc_path, cfg_path, log_path, img_path + ".lock"):
                try:
                    os.unlink(pth)
                except OSError:
                    pass

    def _config(self, img: str, log: str) -> str:
        return f"""megs: 32
cpu: model={self.cpu_model}, count=1, reset_on_triple_fault=0, ips=1000000
romimage: file={BIOS}
vgaromimage: file={VGABIOS}
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=disk, path={img}, mode=flat
boot: disk
log: {log}
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
port_e9_hack: enabled=1
display_library: term
speaker: enabled=0
clock: sync=none
"""


def _tramp_path() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tramp.py")
