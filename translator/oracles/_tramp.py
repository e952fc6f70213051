"""State-area layout and the load/run/store trampoline shared by the native and bochs runners.

The trampoline is a function ``int tramp(void)`` (SysV: no args, result in eax) that addresses
everything RIP-relatively inside one state area, so the same code serves a Linux process and the
bare-metal bochs image:

    entry:   push rbx, rbp, r12-r15
             mov [host_rsp], rsp ; stmxcsr [host_mxcsr] ; fninit ; in_case = 1
             vmovdqu64 zmm0-31 / kmovq k0-7   (or vmovdqu ymm0-15 when full=False)
             ldmxcsr [mxcsr] ; mov rsp, [case_rsp] ; push [rflags] ; popfq
             mov r, [gpr.r] for the 15 GPRs other than rsp (rdi last)
             jmp code_slot                 ; the case code ends with ``jmp back``
    back:    mov [gpr.r], r for all 16 GPRs
             mov rsp, [host_rsp] ; pushfq ; pop [rflags] ; stmxcsr [mxcsr]
             store vectors / k ; xor eax, eax
    restore: push host_flags ; popfq ; ldmxcsr [host_mxcsr] ; fninit ; vzeroupper ; in_case = 0
             pop r15-rbx ; ret
    recover: mov rsp, [host_rsp] ; mov eax, 1 ; jmp restore   (exception / signal path)
"""
from __future__ import annotations

import struct

from ..ir import GPR64
from ..verify.state import MEM_SIZE, X86State
from ._asm import Asm, Label, M

# ---- state area layout (offsets from the area base) -------------------------------------------
OFF_GPR = 0x000          # 16 x u64, GPR64 order
OFF_RFLAGS = 0x080
OFF_MXCSR = 0x088
OFF_HOST_RSP = 0x090
OFF_HOST_MXCSR = 0x098
OFF_EXC_VEC = 0x0A0
OFF_EXC_ERR = 0x0A8
OFF_EXC_RIP = 0x0B0
OFF_EXC_ADDR = 0x0B8
OFF_CASE_RSP = 0x0C0
OFF_IN_CASE = 0x0C8
OFF_EXC_SIG = 0x0D0
OFF_STATUS = 0x0D8       # bochs: trampoline result (0 ok, 1 exception)
OFF_MAGIC = 0x0E0        # bochs: written after the case ran
OFF_CODELEN = 0x0E8      # bochs: bytes of case code (with its jmp back) in the record
OFF_K = 0x100            # 8 x u64
OFF_ZMM = 0x140          # 32 x 64 bytes
AREA_SIZE = 0x940

# RFLAGS bits a case may set: CF PF AF ZF SF DF OF
FLAGS_USER = 0x0CD5


def pack_area(s: X86State) -> bytearray:
    a = bytearray(AREA_SIZE)
    for i, r in enumerate(GPR64):
        struct.pack_into("<Q", a, OFF_GPR + 8 * i, s.gpr.get(r, 0) & (2**64 - 1))
    struct.pack_into("<Q", a, OFF_RFLAGS, (s.rflags & FLAGS_USER) | 0x2)
    struct.pack_into("<I", a, OFF_MXCSR, s.mxcsr & 0xFFFF)
    for i in range(8):
        struct.pack_into("<Q", a, OFF_K + 8 * i, s.k[i] & (2**64 - 1))
    for i in range(32):
        z = bytes(s.zmm[i])
        assert len(z) == 64, "zmm registers must be 64 bytes"
        a[OFF_ZMM + 64 * i:OFF_ZMM + 64 * (i + 1)] = z
    return a


def unpack_area(a: bytes, inp: X86State, mem: bytes, full: bool, stack_top: int) -> X86State:
    """Build the output state from a stored area; ``full`` False keeps zmm uppers/zmm16-31/k."""
    out = inp.copy()
    for i, r in enumerate(GPR64):
        out.gpr[r] = struct.unpack_from("<Q", a, OFF_GPR + 8 * i)[0]
    # rsp ran on a private stack: report the input rsp moved by the same delta
    out.gpr["rsp"] = (inp.gpr.get("rsp", 0) + out.gpr["rsp"] - stack_top) & (2**64 - 1)
    fl = struct.unpack_from("<Q", a, OFF_RFLAGS)[0]
    out.rflags = (inp.rflags & ~FLAGS_USER) | (fl & FLAGS_USER)
    out.mxcsr = struct.unpack_from("<I", a, OFF_MXCSR)[0]
    nz = 32 if full else 16
    for i in range(nz):
        z = bytes(a[OFF_ZMM + 64 * i:OFF_ZMM + 64 * (i + 1)])
        out.zmm[i] = z if full else z[:32] + bytes(inp.zmm[i])[32:]
    if full:
        out.k = [struct.unpack_from("<Q", a, OFF_K + 8 * i)[0] for i in range(8)]
    out.mem = bytes(mem[:MEM_SIZE])
    return out


def exc_info(a: bytes) -> dict:
    g = lambda off: struct.unpack_from("<Q", a, off)[0]  # noqa: E731
    return {"vector": g(OFF_EXC_VEC), "error_code": g(OFF_EXC_ERR), "rip": g(OFF_EXC_RIP),
            "addr": g(OFF_EXC_ADDR), "signal": g(OFF_EXC_SIG)}


def build_trampoline(base: int, area: int, code_slot: int, full: bool, host_flags: int,
                     extra=None) -> tuple[bytes, dict[str, int]]:
    """Assemble the trampoline at ``base``.  ``extra(a)`` may append more code (e.g. handlers)
    that can use labels ``recover``/``restore`` and the area offsets via ``A(off)``."""
    a = Asm(64, base, externs={"code_slot": code_slot})
    A = lambda off: M("rip", disp=area + off)  # noqa: E731
    cs = ["rbx", "rbp", "r12", "r13", "r14", "r15"]
    a.label("entry")
    for r in cs:
        a("PUSH_R64", r)
    a("MOV_RM64_R64", A(OFF_HOST_RSP), "rsp")
    a("STMXCSR_M32", A(OFF_HOST_MXCSR))
    a("FNINIT")
    a("MOV_RM64_IMM32", A(OFF_IN_CASE), 1)
    if full:
        for i in range(32):
            a("EVEX_VMOVDQU64_ZMM_K1Z_ZMMM512", f"zmm{i}", A(OFF_ZMM + 64 * i))
        for i in range(8):
            a("VEX_KMOVQ_KR_KM64", f"k{i}", A(OFF_K + 8 * i))
    else:
        for i in range(16):
            a("VEX_VMOVDQU_YMM_YMMM256", f"ymm{i}", A(OFF_ZMM + 64 * i))
    a("LDMXCSR_M32", A(OFF_MXCSR))
    a("MOV_R64_RM64", "rsp", A(OFF_CASE_RSP))
    a("PUSH_RM64", A(OFF_RFLAGS))
    a("POPFQ")
    order = [r for r in GPR64 if r not in ("rsp", "rdi")] + ["rdi"]
    for r in order:
        a("MOV_R64_RM64", r, A(OFF_GPR + 8 * GPR64.index(r)))
    a("JMP_REL32_64", Label("code_slot"))
    a.label("back")
    for i, r in enumerate(GPR64):
        a("MOV_RM64_R64", A(OFF_GPR + 8 * i), r)
    a("MOV_R64_RM64", "rsp", A(OFF_HOST_RSP))
    a("PUSHFQ")
    a("POP_RM64", A(OFF_RFLAGS))
    a("STMXCSR_M32", A(OFF_MXCSR))
    if full:
        for i in range(32):
            a("EVEX_VMOVDQU64_ZMMM512_K1Z_ZMM", A(OFF_ZMM + 64 * i), f"zmm{i}")
        for i in range(8):
            a("VEX_KMOVQ_M64_KR", A(OFF_K + 8 * i), f"k{i}")
    else:
        for i in range(16):
            a("VEX_VMOVDQU_YMMM256_YMM", A(OFF_ZMM + 64 * i), f"ymm{i}")
    a("XOR_R32_RM32", "eax", "eax")
    a.label("restore")
    a("PUSHQ_IMM32", host_flags)
    a("POPFQ")
    a("LDMXCSR_M32", A(OFF_HOST_MXCSR))
    a("FNINIT")
    a("VEX_VZEROUPPER")
    a("MOV_RM64_IMM32", A(OFF_IN_CASE), 0)
    for r in reversed(cs):
        a("POP_R64", r)
    a("RETNQ")
    a.label("recover")
    a("MOV_R64_RM64", "rsp", A(OFF_HOST_RSP))
    a("MOV_R32_IMM32", "eax", 1)
    a("JMP_REL32_64", Label("restore"))
    if extra:
        extra(a, A)
    return a.assemble()


def jmp_back(code: bytes, code_slot: int, back: int) -> bytes:
    """Case code followed by ``jmp back`` (rel32) when placed at ``code_slot``."""
    end = code_slot + len(code) + 5
    return bytes(code) + b"\xE9" + struct.pack("<i", back - end)
