"""Run generated kernels: SVE under unicorn (``run_function``), x86 natively (``run_native``),
and the qemu-user + cross-gcc path (``build_qemu_program`` / ``run_qemu``).

Calling convention: ``args`` are the C arguments in order. Python ints (and numpy integer
scalars) go to the next integer register, numpy arrays are copied into mapped memory and passed
as pointers (and copied back afterwards, in place), ``numpy.float32`` scalars go to the next
single-precision FP register and Python floats / ``numpy.float64`` to the next double one. Up to
6 integer and 8 FP arguments (what System V and AAPCS64 both pass in registers).
"""
from __future__ import annotations

import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

import numpy as np

__all__ = ["run_function", "run_native", "RunError", "ENTRY_SYMBOL", "c_signature", "qemu_available",
           "build_qemu_program", "run_qemu"]

ENTRY_SYMBOL = "x2sve_jit_fn"
_PAGE = 0x1000
CODE_ADDR = 0x400000
RET_ADDR = 0x3FF000                 # x30 on entry: a mapped page; emulation stops when pc gets here
STACK_TOP = 0x7F000000
STACK_SIZE = 0x200000
HEAP_ADDR = 0x10000000


class RunError(RuntimeError):
    """The function faulted, trapped, ran too long or could not be set up."""


def _code_of(f, symbol: str = ENTRY_SYMBOL) -> bytes:
    if isinstance(f, (bytes, bytearray)):
        return bytes(f)
    if hasattr(f, "arm_code"):
        return f.arm_code(symbol=symbol)
    raise TypeError("run_function wants A64 bytes (an AAPCS64 function) or a CodeGenerator")


def _classify(args) -> list[tuple[str, object]]:
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(("ptr", a))
        elif isinstance(a, (np.float32,)):
            out.append(("f32", float(a)))
        elif isinstance(a, (float, np.float64)):
            out.append(("f64", float(a)))
        elif isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            out.append(("int", int(a)))
        else:
            raise TypeError(f"argument {a!r}: use int, numpy array, numpy.float32 or float")
    if sum(k in ("int", "ptr") for k, _ in out) > 6 or sum(k in ("f32", "f64") for k, _ in out) > 8:
        raise TypeError("at most 6 integer/pointer and 8 floating-point arguments")
    return out


def _round_up(n: int, a: int = _PAGE) -> int:
    return (n + a - 1) // a * a


def run_function(f, args: Sequence = (), vl: int = 512, *, max_insns: int = 200_000_000,
                 ret: str = "int", symbol: str = ENTRY_SYMBOL):
    """Run an AAPCS64 function (A64 bytes, entry at offset 0, or a ``CodeGenerator``, translated
    with a symbol) in unicorn with SVE at ``vl`` bits. numpy arrays are updated in place.
    Returns x0 (``ret="int"``, unsigned), s0 (``"f32"``) or d0 (``"f64"``)."""
    import unicorn as U
    from unicorn import arm64_const as A
    code = _code_of(f, symbol)
    kinds = _classify(args)
    uc = U.Uc(U.UC_ARCH_ARM64, U.UC_MODE_ARM)
    uc.ctl_set_cpu_model(A.UC_CPU_ARM64_MAX)
    # the SVE set-up that translator/verify/arm_exec.py documents: no FP/SVE traps, ZCR.LEN = vq-1
    uc.reg_write(A.UC_ARM64_REG_CPACR_EL1, 0x330000)
    uc.reg_write(A.UC_ARM64_REG_CP_REG, (1, 1, 3, 6, 2, 1 << 8))          # CPTR_EL3.EZ
    for op1 in (6, 4, 0):                                                 # ZCR_EL3/EL2/EL1
        uc.reg_write(A.UC_ARM64_REG_CP_REG, (1, 2, 3, op1, 0, vl // 128 - 1))
    uc.mem_map(RET_ADDR, _PAGE, U.UC_PROT_READ | U.UC_PROT_EXEC)
    uc.mem_write(RET_ADDR, struct.pack("<I", 0xD4200000))                 # brk #0 (never run)
    uc.mem_map(CODE_ADDR, _round_up(len(code) + 4), U.UC_PROT_READ | U.UC_PROT_EXEC)
    uc.mem_write(CODE_ADDR, code)
    uc.mem_map(STACK_TOP - STACK_SIZE, STACK_SIZE, U.UC_PROT_READ | U.UC_PROT_WRITE)

    xregs: list[int] = []
    vregs: list[tuple[str, float]] = []
    buffers: list[tuple[np.ndarray, int]] = []
    addr = HEAP_ADDR
    for kind, v in kinds:
        if kind == "ptr":
            arr = v
            nbytes = arr.nbytes
            size = _round_up(max(nbytes, 1))
            uc.mem_map(addr, size, U.UC_PROT_READ | U.UC_PROT_WRITE)
            if nbytes:
                uc.mem_write(addr, np.ascontiguousarray(arr).tobytes())
            buffers.append((arr, addr))
            xregs.append(addr)
            addr += size + _PAGE                                          # unmapped guard page
        elif kind == "int":
            xregs.append(v & 0xFFFFFFFFFFFFFFFF)
        else:
            vregs.append((kind, v))
    for i, v in enumerate(xregs):
        uc.reg_write(getattr(A, f"UC_ARM64_REG_X{i}"), v)
    for i, (kind, v) in enumerate(vregs):
        bits = struct.unpack("<I", struct.pack("<f", v))[0] if kind == "f32" else \
            struct.unpack("<Q", struct.pack("<d", v))[0]
        uc.reg_write(getattr(A, f"UC_ARM64_REG_Q{i}"), bits)
    uc.reg_write(A.UC_ARM64_REG_SP, STACK_TOP - 64)
    uc.reg_write(A.UC_ARM64_REG_X30, RET_ADDR)
    fault: list = []

    def on_bad(uc_, access, address, size, value, data):
        fault.append((access, address, uc_.reg_read(A.UC_ARM64_REG_PC)))
        return False

    def on_intr(uc_, intno, data):
        fault.append(("intr", intno, uc_.reg_read(A.UC_ARM64_REG_PC)))
        uc_.emu_stop()

    uc.hook_add(U.UC_HOOK_MEM_INVALID, on_bad)
    uc.hook_add(U.UC_HOOK_INTR, on_intr)
    err = None
    try:
        uc.emu_start(CODE_ADDR, RET_ADDR, count=max_insns)
    except U.UcError as e:
        err = e
    pc = uc.reg_read(A.UC_ARM64_REG_PC)
    if err is not None or fault or pc != RET_ADDR:
        where = f"pc={pc:#x} (code offset {pc - CODE_ADDR:#x})"
        if fault and fault[0][0] == "intr":
            raise RunError(f"trap (exception {fault[0][1]}) at code offset {fault[0][2] - CODE_ADDR:#x}")
        if fault:
            raise RunError(f"bad memory access at {fault[0][1]:#x}, code offset {fault[0][2] - CODE_ADDR:#x}")
        if err is not None:
            raise RunError(f"{err} at {where}")
        raise RunError(f"did not return within {max_insns} instructions ({where})")
    for arr, a in buffers:
        if arr.nbytes:
            data = uc.mem_read(a, arr.nbytes)
            arr[...] = np.frombuffer(bytes(data), dtype=arr.dtype).reshape(arr.shape)
    if ret == "int":
        return uc.reg_read(A.UC_ARM64_REG_X0)
    q = uc.reg_read(A.UC_ARM64_REG_Q0)
    if ret == "f32":
        return struct.unpack("<f", struct.pack("<I", q & 0xFFFFFFFF))[0]
    return struct.unpack("<d", struct.pack("<Q", q & 0xFFFFFFFFFFFFFFFF))[0]


# ---------------------------------------------------------------------------------------------
# native x86: the generator's own bytes, mapped at its base, called through ctypes in a worker
# process (a crash or hang costs the worker, not the caller)

def run_native(g, args: Sequence = (), *, base: Optional[int] = None, ret: str = "int",
               timeout: float = 30.0):
    """Run x86 code natively (this host must be x86-64 with what the code uses). ``g`` is a
    ``CodeGenerator`` (run at its base) or bytes with ``base``. numpy arrays are updated in place."""
    if hasattr(g, "x86_code"):
        code, base = g.x86_code(), g.base
    else:
        code = bytes(g)
        if base is None:
            raise TypeError("run_native(bytes, ...) needs base=")
    kinds = _classify(args)
    payload = pickle.dumps({"code": code, "base": base, "args": kinds, "ret": ret})
    p = subprocess.run([sys.executable, "-m", "translator.jit._native_worker"], input=payload,
                       capture_output=True, timeout=timeout,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if p.returncode != 0:
        sig = -p.returncode if p.returncode < 0 else None
        raise RunError(f"native x86 run failed ({'signal ' + str(sig) if sig else 'exit ' + str(p.returncode)}): "
                       f"{p.stderr.decode(errors='replace').strip()[-500:]}")
    out = pickle.loads(p.stdout)
    arrays = [a for k, a in kinds if k == "ptr"]
    for arr, data in zip(arrays, out["arrays"]):
        arr[...] = np.frombuffer(data, dtype=arr.dtype).reshape(arr.shape)
    return out["ret"]


# ---------------------------------------------------------------------------------------------
# qemu-user: a C program around the translated function

CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64-static"


def qemu_available() -> bool:
    return shutil.which(CROSS_CC) is not None and (shutil.which(QEMU) or shutil.which("qemu-aarch64")) is not None


def c_signature(name: str, args: Sequence, ret: str = "long") -> str:
    """A C prototype matching ``args`` as run_function classifies them."""
    ctype = {"ptr": "void *", "int": "long", "f32": "float", "f64": "double"}
    ps = ", ".join(f"{ctype[k]} a{i}" for i, (k, _) in enumerate(_classify(args))) or "void"
    return f"{ret} {name}({ps});"


def build_qemu_program(asm: str, c_source: str, out_dir: str, name: str = "prog") -> str:
    """Assemble + compile + link (static) with the cross gcc; returns the executable's path."""
    s = os.path.join(out_dir, f"{name}_kernel.s")
    c = os.path.join(out_dir, f"{name}_main.c")
    exe = os.path.join(out_dir, name)
    with open(s, "w") as f:
        f.write(asm)
    with open(c, "w") as f:
        f.write(c_source)
    p = subprocess.run([CROSS_CC, "-O1", "-static", "-march=armv8.2-a+sve", "-o", exe, c, s],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RunError(f"{CROSS_CC} failed: {p.stderr.strip()[-2000:]}")
    return exe


def run_qemu(exe: str, vl: int = 512, args: Sequence[str] = (), timeout: float = 60.0,
             stdin: bytes | None = None) -> subprocess.CompletedProcess:
    q = shutil.which(QEMU) or shutil.which("qemu-aarch64")
    return subprocess.run([q, "-cpu", f"max,sve{vl}=on", exe, *args], capture_output=True,
                          timeout=timeout, input=stdin)
