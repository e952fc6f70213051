"""Worker process of NativeRunner: runs x86 cases on this CPU.  Not imported by the parent.

Protocol on stdin/stdout (little endian):
  request:  b"X2SV" u32 n, u32 code_len, u32 flags, code (already ending in ``jmp back``),
            then n x (u64 mem_base, area[AREA_SIZE], mem[4096])
  response: per case u32 status (0 ok, 1 exception/signal, 2 window could not be mapped),
            area[AREA_SIZE], mem[4096]    -- written and flushed case by case
The first line written on start is b"READY <code_slot> <back> <stack_top>\\n".
Faults are caught in-process: a SIGSEGV/SIGILL/SIGFPE/SIGBUS/SIGTRAP handler (machine code)
records trapno/err/rip/addr from the ucontext into the area and resumes at ``recover``.
"""
from __future__ import annotations

import ctypes as C
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from translator.oracles._tramp import (AREA_SIZE, OFF_CASE_RSP, OFF_EXC_ADDR,  # noqa: E402
                                       OFF_EXC_ERR, OFF_EXC_RIP, OFF_EXC_SIG, OFF_EXC_VEC,
                                       OFF_IN_CASE, build_trampoline)
from translator.oracles._asm import Label, M  # noqa: E402

MEM_SIZE = 4096
PROT_RWX, PROT_RW = 7, 3
MAP_PRIVATE, MAP_ANON, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000
SA_SIGINFO, SA_ONSTACK, SA_RESETHAND = 4, 0x08000000, 0x80000000
SIGNALS = (4, 5, 7, 8, 11)  # SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
CODE_MAX = 1 << 20
STACK_SIZE = 1 << 18

libc = C.CDLL(None, use_errno=True)
libc.mmap.restype = C.c_void_p
libc.mmap.argtypes = [C.c_void_p, C.c_size_t, C.c_int, C.c_int, C.c_int, C.c_long]


class SigAction(C.Structure):
    _fields_ = [("handler", C.c_void_p), ("mask", C.c_ulong * 16), ("flags", C.c_int),
                ("restorer", C.c_void_p)]


class StackT(C.Structure):
    _fields_ = [("sp", C.c_void_p), ("flags", C.c_int), ("size", C.c_size_t)]


def mmap(addr, size, prot, flags):
    p = libc.mmap(addr, size, prot, flags, -1, 0)
    if p in (None, 2**64 - 1, -1):
        return None
    return p


def handler_code(a, A):
    # void handler(int sig, siginfo_t *si, ucontext_t *uc); gregs at uc+40, RIP=16 ERR=19 TRAPNO=20
    a.label("handler")
    a("CMP_RM64_IMM8", A(OFF_IN_CASE), 0)
    a("JE_REL32_64", Label("h_out"))
    a("MOV_RM32_R32", A(OFF_EXC_SIG), "edi")
    a("MOV_R64_RM64", "rax", M("rdx", disp=40 + 20 * 8))
    a("MOV_RM64_R64", A(OFF_EXC_VEC), "rax")
    a("MOV_R64_RM64", "rax", M("rdx", disp=40 + 19 * 8))
    a("MOV_RM64_R64", A(OFF_EXC_ERR), "rax")
    a("MOV_R64_RM64", "rax", M("rdx", disp=40 + 16 * 8))
    a("MOV_RM64_R64", A(OFF_EXC_RIP), "rax")
    a("MOV_R64_RM64", "rax", M("rsi", disp=16))
    a("MOV_RM64_R64", A(OFF_EXC_ADDR), "rax")
    a("LEA_R64_M", "rax", M("rip", disp=Label("recover")))
    a("MOV_RM64_R64", M("rdx", disp=40 + 16 * 8), "rax")
    a.label("h_out")
    a("RETNQ")


def main() -> None:
    full = sys.argv[1] == "1"
    region = mmap(None, 0x2000 + CODE_MAX, PROT_RWX, MAP_PRIVATE | MAP_ANON)
    stack = mmap(None, STACK_SIZE, PROT_RW, MAP_PRIVATE | MAP_ANON)
    alt = mmap(None, 1 << 16, PROT_RW, MAP_PRIVATE | MAP_ANON)
    area, slot = region + 0x1000, region + 0x2000
    stack_top = stack + STACK_SIZE - 4096
    tramp, labels = build_trampoline(region, area, slot, full, 0x202, extra=handler_code)
    assert len(tramp) <= 0x1000
    C.memmove(region, tramp, len(tramp))
    st = StackT(alt, 0, 1 << 16)
    if libc.sigaltstack(C.byref(st), None) != 0:
        raise OSError(C.get_errno(), "sigaltstack")
    sa = SigAction()
    sa.handler = labels["handler"]
    sa.flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND

    def install():
        for s in SIGNALS:
            if libc.sigaction(s, C.byref(sa), None) != 0:
                raise OSError(C.get_errno(), "sigaction")

    install()
    func = C.CFUNCTYPE(C.c_int)(labels["entry"])
    mapped: set[int] = set()
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    out.write(b"READY %d %d %d\n" % (slot, labels["back"], stack_top))
    out.flush()
    rec = 8 + AREA_SIZE + MEM_SIZE
    while True:
        hdr = inp.read(16)
        if len(hdr) < 16:
            return
        magic, n, clen, _flags = struct.unpack("<4sIII", hdr)
        assert magic == b"X2SV"
        code = inp.read(clen)
        assert clen <= CODE_MAX
        C.memmove(slot, code, clen)
        body = inp.read(n * rec)
        for i in range(n):
            r = body[i * rec:(i + 1) * rec]
            base = struct.unpack_from("<Q", r)[0]
            ok = True
            for page in range(base & ~0xFFF, base + MEM_SIZE, 0x1000):
                if page not in mapped:
                    p = mmap(page, 0x1000, PROT_RW, MAP_PRIVATE | MAP_ANON | MAP_FIXED_NOREPLACE)
                    if p != page:
                        ok = False
                        break
                    mapped.add(page)
            if not ok:
                out.write(struct.pack("<I", 2) + bytes(AREA_SIZE + MEM_SIZE))
                out.flush()
                continue
            C.memmove(area, r[8:8 + AREA_SIZE], AREA_SIZE)
            C.memmove(area + OFF_CASE_RSP, struct.pack("<Q", stack_top), 8)
            C.memmove(base, r[8 + AREA_SIZE:], MEM_SIZE)
            status = func()
            if status:
                install()
            out.write(struct.pack("<I", status) + C.string_at(area, AREA_SIZE)
                      + C.string_at(base, MEM_SIZE))
            out.flush()


if __name__ == "__main__":
    main()
