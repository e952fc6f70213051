"""Whole-kernel run of a real AVX2 kernel: PyTorch/oneDNN's int8 GEMM micro-kernel
(jit_avx2_gemm_s8u8s32_kern, ../shared/corpus/onednn-avx2), translated and run under qemu
against the same bytes run natively on this AVX2 host, bit for bit.

It exercises what the AVX-512 e2e kernels do not: the AVX2 int8 idiom (vpmaddubsw, vpmaddwd by
the vector of ones that lower/splat.py finds through movq + vpbroadcastw, vpaddd), the reuse
hints, and the peephole passes over ymm code. The kernel takes ten System V arguments
(m*, n*, k*, alpha*, a, b, c, ldc, col_offset, row_offset); an x86 wrapper placed before it reads
them from one struct (the runners call ``kernel(struct*)``) and is translated with it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from translator.e2e import Request, bit_diff, native_missing, qemu_missing, run_native, run_qemu
from translator.lower.fuse import slow_paths_trapping
from translator.translate import translate

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "onednn-avx2"
KERNEL = CORPUS / "dnnl_dump_cpu_jit_avx2_gemm_s8u8s32_kern_t.67.bin"
BASE = 0x7E0000000000
KERNEL_AT = 0x80                     # the kernel's offset after the wrapper

NO_NATIVE = native_missing(("avx2",))
NO_QEMU = qemu_missing()
pytestmark = [pytest.mark.skipif(not KERNEL.is_file(), reason="../shared/corpus is not there"),
              pytest.mark.skipif(NO_NATIVE is not None, reason=str(NO_NATIVE)),
              pytest.mark.skipif(NO_QEMU is not None, reason=str(NO_QEMU))]


def _wrapper() -> bytes:
    """struct* in rdi -> the kernel's ten arguments (6 in registers, 4 on the stack)."""
    import iced_x86 as I
    C, R = I.Code, I.Register
    M = I.MemoryOperand
    ins = [I.Instruction.create_reg_reg(C.MOV_R64_RM64, R.RAX, R.RDI),
           I.Instruction.create_reg_i32(C.SUB_RM64_IMM8, R.RSP, 8)]
    for off in (72, 64, 56, 48):                       # row_off, col_off, ldc, c
        ins.append(I.Instruction.create_mem(C.PUSH_RM64, M(R.RAX, displ=off, displ_size=1)))
    for reg, off in ((R.RDI, 0), (R.RSI, 8), (R.RDX, 16), (R.RCX, 24), (R.R8, 32), (R.R9, 40)):
        ins.append(I.Instruction.create_reg_mem(C.MOV_R64_RM64, reg, M(R.RAX, displ=off, displ_size=1)))
    ins += [I.Instruction.create_branch(C.CALL_REL32_64, BASE + KERNEL_AT),
            I.Instruction.create_reg_i32(C.ADD_RM64_IMM8, R.RSP, 40),
            I.Instruction.create(C.RETNQ)]
    enc = I.BlockEncoder(64)
    enc.add_many(ins)
    code = enc.encode(BASE)
    assert len(code) <= KERNEL_AT
    return code + b"\xcc" * (KERNEL_AT - len(code))


def _request(rng: np.random.Generator, m: int, n: int, k: int, weights: int = 128) -> Request:
    """``weights``: the s8 matrix A takes values in [-weights, weights)."""
    r = Request()
    r.add("args", 80)
    for name, v in (("m", m), ("n", n), ("k", k)):
        r.add(name, np.array([v], np.int64))
    r.add("alpha", np.array([1.0], np.float32))
    r.add("a", rng.integers(-weights, weights, 1 << 16, dtype=np.int8))
    r.add("b", rng.integers(0, 256, 1 << 16, dtype=np.uint8))
    r.add("c", rng.integers(-1000, 1000, 1 << 14, dtype=np.int32))
    r.add("col_off", rng.integers(-50, 50, 1024, dtype=np.int32))
    r.add("row_off", rng.integers(-50, 50, 1024, dtype=np.int32))
    for off, name in ((0, "m"), (8, "n"), (16, "k"), (24, "alpha"), (32, "a"), (40, "b"), (48, "c"),
                      (64, "col_off"), (72, "row_off")):
        r.pointer("args", off, name)
    ldc = bytearray(r.buffers[r.index("args")].data)
    ldc[56:64] = int(m).to_bytes(8, "little")
    r.buffers[r.index("args")].data = bytes(ldc)
    r.call("args")
    return r


@pytest.mark.parametrize("m, n, k", [(16, 4, 64), (24, 6, 36), (9, 3, 20)])
def test_avx2_int8_gemm_kernel_is_bit_exact(m, n, k):
    code = _wrapper() + KERNEL.read_bytes()
    req = _request(np.random.default_rng(m * 1000 + n * 10 + k), m, n, k)
    native = run_native(code, BASE, req, features=("avx2",))
    assert native.status == 0
    assert native.buffers["c"] != req.buffers[req.index("c")].data       # the kernel wrote C
    for peephole in (True, False):
        asm = translate(code, base=BASE, symbol="kernel", peephole=peephole).asm()
        sve = run_qemu(asm, req)
        outputs = [b.name for b in req.buffers if b.name != "args"]      # args: host addresses
        assert bit_diff(native, sve, outputs) == [], peephole


@pytest.mark.parametrize("m, n, k", [(16, 4, 64), (9, 3, 20)])
def test_fused_dot_products_take_their_fast_path_on_7_bit_weights(m, n, k):
    """oneDNN keeps s8 weights in [-64, 63] on cores without VNNI: every fused group
    (lower/fuse.py) takes its udot fast path, and the result is still bit-exact."""
    code = _wrapper() + KERNEL.read_bytes()
    t = translate(code, base=BASE, symbol="kernel")
    assert len(t.fused) > 100
    req = _request(np.random.default_rng(m + n + k), m, n, k, weights=64)
    native = run_native(code, BASE, req, features=("avx2",))
    sve = run_qemu(t.asm(), req)
    assert bit_diff(native, sve, [b.name for b in req.buffers if b.name != "args"]) == []
    # again with every fused group's slow path trapping: the fast paths alone give that result
    assert bit_diff(native, run_qemu(slow_paths_trapping(t.asm()), req), ["c"]) == []


def test_the_kernel_uses_the_pair_sum_and_a_wrong_one_is_caught(monkeypatch):
    code = _wrapper() + KERNEL.read_bytes()
    t = translate(code, base=BASE, symbol="kernel")
    bodies = [[l for l in ls if not l.endswith(":")] for i, ls in t.lines if i is not None and i.mnemonic == "vpmaddwd"]
    assert len(bodies) > 100 and all(len(b) <= 4 for b in bodies)       # asr + sxth + add (+ zeroing)
    from translator.lower.tables import default_tables
    from translator.translate import clear_caches
    rule = next(r for r in default_tables().entry_for("vpmaddwd").rules if "src1_splat" in r.when)
    monkeypatch.setattr(rule, "sve", [l.replace("add ", "sub ") for l in rule.sve])
    clear_caches()
    req = _request(np.random.default_rng(1), 16, 4, 64)
    native = run_native(code, BASE, req, features=("avx2",))
    sve = run_qemu(translate(code, base=BASE, symbol="kernel").asm(), req)
    clear_caches()
    assert bit_diff(native, sve, ["c"]) != []
