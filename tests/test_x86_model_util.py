"""Helpers for the x86 model tests: assemble Intel syntax with GNU as, random edge-heavy states."""
from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import tempfile

from translator.decode import decode_one
from translator.ir import GPR64
from translator.verify.state import MEM_BASE, X86State

HAVE_AS = shutil.which("as") is not None and shutil.which("objcopy") is not None


@functools.lru_cache(maxsize=None)
def asm(text: str) -> bytes:
    """Assemble one or more Intel-syntax lines (GNU as) to raw bytes."""
    with tempfile.TemporaryDirectory() as d:
        s, o, b = (os.path.join(d, n) for n in ("a.s", "a.o", "a.bin"))
        with open(s, "w") as f:
            f.write(".intel_syntax noprefix\n" + text + "\n")
        r = subprocess.run(["as", "--64", "-o", o, s], capture_output=True, text=True)
        if r.returncode:
            raise ValueError(f"as failed for {text!r}: {r.stderr.strip()}")
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", o, b], check=True)
        with open(b, "rb") as f:
            return f.read()


def I(text: str):
    return decode_one(asm(text))


F32_EDGE = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
            0x7FC12345, 0xFF812345, 0x7F800001, 0xFFA00005, 0x00000001, 0x80000001, 0x007FFFFF,
            0x807FFFFF, 0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000,
            0x3EAAAAAB, 0x40400000, 0x4F000000, 0xCF000000, 0x4EFFFFFF, 0xCF000001, 0x3F000000,
            0x3FC00000, 0x40200000, 0x00400000, 0x33800000, 0x34000000, 0x1F800000, 0x5F800000,
            0x3F7FFFFF, 0x00FFFFFF]
F64_EDGE = [0x0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
            0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FF8000000012345,
            0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
            0x3FF0000000000000, 0xBFF0000000000000, 0x3FD5555555555555, 0x41E0000000000000,
            0xC1E0000000000000, 0x3FE0000000000000, 0x3CA0000000000000, 0x3FEFFFFFFFFFFFFF]
INT_EDGE = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFF, 0x8000, 0x7F, 0x80, 0xFF,
            0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 31, 32, 33, 63, 64, 5]


def _rand_f32(rng):
    r = rng.random()
    if r < 0.45:
        return rng.choice(F32_EDGE)
    if r < 0.55:
        return rng.getrandbits(32) & 0x807FFFFF          # denormals
    if r < 0.75:                                            # moderate exponents: real arithmetic
        return (rng.getrandbits(1) << 31) | (rng.randint(110, 140) << 23) | rng.getrandbits(23)
    return rng.getrandbits(32)


def _rand_f64(rng):
    r = rng.random()
    if r < 0.4:
        return rng.choice(F64_EDGE)
    if r < 0.5:
        return rng.getrandbits(64) & 0x800FFFFFFFFFFFFF
    if r < 0.75:
        return (rng.getrandbits(1) << 63) | (rng.randint(1000, 1050) << 52) | rng.getrandbits(52)
    return rng.getrandbits(64)


def rand_vec(rng) -> bytes:
    kind = rng.random()
    if kind < 0.45:
        return struct.pack("<16I", *(_rand_f32(rng) for _ in range(16)))
    if kind < 0.75:
        return struct.pack("<8Q", *(_rand_f64(rng) for _ in range(8)))
    if kind < 0.9:
        return struct.pack("<16I", *(rng.choice(INT_EDGE) & 0xFFFFFFFF if rng.random() < 0.5
                                     else rng.getrandbits(32) for _ in range(16)))
    return rng.randbytes(64)


def rand_state(rng, *, mxcsr_random=True, ptr_regs=("rax", "rbx", "rsi"), stack=True) -> X86State:
    s = X86State()
    s.zmm = [rand_vec(rng) for _ in range(32)]
    s.k = [rng.choice([0, 0xFFFF, 0xFFFFFFFFFFFFFFFF, 0x5555, 0x1]) if rng.random() < 0.3
           else rng.getrandbits(64) for _ in range(8)]
    for r in GPR64:
        s.gpr[r] = rng.choice(INT_EDGE) if rng.random() < 0.5 else rng.getrandbits(64)
    for r in ptr_regs:                                      # base registers point into the window
        s.gpr[r] = MEM_BASE + 64 * rng.randint(0, 40)
    s.gpr["rcx"] = rng.choice([0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65]) | (rng.getrandbits(8) << 8 if rng.random() < 0.3 else 0)
    s.gpr["rsp"] = MEM_BASE + 2048
    s.rflags = 0x202 | (rng.getrandbits(12) & 0x8D5)
    if mxcsr_random:
        s.mxcsr = 0x1F80 | (rng.getrandbits(2) << 13) | (0x40 if rng.random() < 0.3 else 0) \
            | (0x8000 if rng.random() < 0.3 else 0)
    mem = bytearray()
    while len(mem) < 4096:
        mem += rand_vec(rng)
    s.mem = bytes(mem[:4096])
    return s
