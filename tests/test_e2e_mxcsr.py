"""MXCSR (mapping_tables/system.yaml, x86model/system.py): ldmxcsr/stmxcsr end to end.

A hand-made kernel loads an MXCSR value from its argument struct, stores it back, computes
rounding-sensitive results (vcvtps2dq, vaddps, vdivps), saves/restores the caller's MXCSR the way
oneDNN does: natively on x86, and translated (AAPCS64 --symbol entry) under qemu-aarch64 with
512-bit SVE; outputs must agree bit for bit for every rounding mode. DAZ/FTZ/unmasked values take
the trap path at run time and are unsupported as constants. The x86 model's handlers are checked
against this host's CPU.
"""
from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from translator import translate
from translator.e2e import E2EError, Request, native_missing, qemu_missing, run_native, run_qemu
from translator.jit import CodeGenerator, Label
from translator.jit.operands import REGISTERS as R, dword, ptr, zword
from translator.lower.regmap import MXCSR_DEFAULT, SCRATCH_MXCSR
from translator.lower.tables import default_tables
from translator.translate import UnsupportedError

NO_NATIVE = native_missing()
NO_QEMU = qemu_missing()
needs_native = pytest.mark.skipif(bool(NO_NATIVE), reason=f"native x86: {NO_NATIVE}")
needs_qemu = pytest.mark.skipif(bool(NO_QEMU), reason=f"qemu: {NO_QEMU}")

rdi, rsi, rdx, rsp, rip = (R[n] for n in ("rdi", "rsi", "rdx", "rsp", "rip"))
zmm0, zmm1, zmm2, zmm3 = (R[f"zmm{i}"] for i in range(4))
BASE = 0x7f5500020000
N = 16


def test_table_slot_is_the_regmap_constant():
    t = default_tables()
    for m in ("ldmxcsr", "vldmxcsr", "stmxcsr", "vstmxcsr"):
        assert int(t.entry_for(m).args["slot"]) == SCRATCH_MXCSR
    assert MXCSR_DEFAULT == 0x1F80


def _kernel() -> CodeGenerator:
    """kernel(args): args = {0x00 src*, 0x08 dst*, 0x10 u32 mxcsr, 0x18 save*}. dst: [0:16] i32
    cvtps2dq(src), [16:32] src + src[rotated], [32:48] src / 3, [48] MXCSR after the ldmxcsr,
    [49] MXCSR after restoring the caller's (status flags masked)."""
    g = CodeGenerator(base=BASE, strict=False)
    g.mov(rsi, ptr[rdi])
    g.mov(rdx, ptr[rdi + 8])
    g.mov(R["rax"], ptr[rdi + 0x18])
    g.stmxcsr(dword[R["rax"]])                # the caller's MXCSR (not compared)
    g.ldmxcsr(dword[rdi + 0x10])
    g.vstmxcsr(dword[rdx + 48 * 4])
    g.vmovups(zmm1, zword[rsi])
    g.vcvtps2dq(zmm0, zmm1)
    g.vmovups(zword[rdx], zmm0)
    g.vmovups(zmm2, zword[rsi + 4])
    g.vaddps(zmm3, zmm1, zmm2)
    g.vmovups(zword[rdx + 64], zmm3)
    g.vbroadcastss(zmm2, dword[rsi + 0x80])
    g.vdivps(zmm3, zmm1, zmm2)
    g.vmovups(zword[rdx + 128], zmm3)
    g.vldmxcsr(dword[R["rax"]])               # restore
    g.stmxcsr(dword[rdx + 49 * 4])
    g.and_(dword[rdx + 49 * 4], 0xFFC0)       # the caller's status flags differ by host
    g.ret()
    return g


def _request(mxcsr: int) -> Request:
    """src: 32 floats (ties, halves, values that round differently per mode) and, at 0x80, the
    divisor 3.0; the loaded MXCSR value goes into the struct."""
    rng = np.random.default_rng(mxcsr)
    src = rng.uniform(-1000, 1000, 0x80 // 4 + 1).astype(np.float32)
    src[:8] = [2.5, -2.5, 0.5, -0.5, 1.5, 1e-7, 16777216.0, -3.5]
    src[-1] = 3.0
    r = Request()
    r.add("args", 0x20)
    r.add("src", src, guard_end=True)
    r.add("dst", 50 * 4, guard_end=True)
    r.add("save", 8)
    r.pointer("args", 0, "src")
    r.pointer("args", 8, "dst")
    r.pointer("args", 0x18, "save")
    a = bytearray(r.buffers[0].data)
    struct.pack_into("<I", a, 0x10, mxcsr)
    r.buffers[0].data = bytes(a)
    r.call("args")
    return r


def _asm(g: CodeGenerator) -> str:
    return translate(g.x86_code(), base=BASE, symbol="kernel").asm()


VALUES = [0x1F80, 0x3F80, 0x5F80, 0x7F80, 0x1F81, 0x5FBF, 0x7FA0]


@needs_native
@needs_qemu
@pytest.mark.parametrize("mxcsr", VALUES, ids=[hex(v) for v in VALUES])
def test_rounding_modes_native_vs_qemu(mxcsr):
    g = _kernel()
    asm = _asm(g)
    req = _request(mxcsr)
    nat = run_native(g.x86_code(), BASE, req)
    sve = run_qemu(asm, req)
    d_n, d_s = nat.array("dst", np.uint32), sve.array("dst", np.uint32)
    assert d_n[48] == mxcsr and d_n[49] == 0x1F80 & 0xFFC0
    assert (d_n == d_s).all(), [(i, hex(a), hex(b)) for i, (a, b) in enumerate(zip(d_n, d_s)) if a != b][:5]


@needs_native
def test_rounding_modes_change_results_natively():
    """The test above is not vacuous: the four modes give four different outputs."""
    g = _kernel()
    outs = {bytes(run_native(g.x86_code(), BASE, _request(0x1F80 | rc << 13)).buffers["dst"][:48 * 4])
            for rc in range(4)}
    assert len(outs) == 4


@needs_qemu
@pytest.mark.parametrize("mxcsr", [0x1FC0, 0x9F80, 0x9FC0, 0x1F00, 0x11F80])
def test_daz_ftz_unmasked_or_reserved_trap_at_run_time(mxcsr):
    with pytest.raises(E2EError, match="signal 5"):      # brk -> SIGTRAP
        run_qemu(_asm(_kernel()), _request(mxcsr))


def _const_kernel(value: int) -> CodeGenerator:
    g = CodeGenerator(base=BASE, strict=False)
    c = Label()
    g.stmxcsr(dword[rsp - 8])
    g.ldmxcsr(dword[rip + c])
    g.vcvtps2dq(zmm0, zword[rdi])
    g.vmovups(zword[rsi], zmm0)
    g.ldmxcsr(dword[rsp - 8])
    g.ret()
    g.align(16)
    g.L(c)
    g.dd([value, 0, 0, 0])
    return g


@pytest.mark.parametrize("value", [0x9FC0, 0x1FC0, 0x9F80, 0x1F00])
def test_constant_daz_ftz_is_unsupported(value):
    with pytest.raises(UnsupportedError, match=re.escape(f"{value:#06x}")):
        translate(_const_kernel(value).x86_code(), base=BASE, symbol="kernel")


@needs_native
@needs_qemu
def test_constant_round_down_native_vs_qemu():
    x = np.array([2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 7.9, -7.9] * 2, np.float32)
    nat_out = np.floor(x).astype(np.int32)
    # the driver's entry takes one argument: wrap with a tiny x86 kernel that loads both pointers
    w = CodeGenerator(base=BASE, strict=False)
    c = Label()
    w.mov(rsi, ptr[rdi + 8])
    w.mov(rdi, ptr[rdi])
    w.stmxcsr(dword[rsp - 8])
    w.ldmxcsr(dword[rip + c])
    w.vcvtps2dq(zmm0, zword[rdi])
    w.vmovups(zword[rsi], zmm0)
    w.ldmxcsr(dword[rsp - 8])
    w.ret()
    w.align(16)
    w.L(c)
    w.dd([0x3F80, 0, 0, 0])
    r = Request()
    r.add("args", 16)
    r.add("src", x)
    r.add("dst", 64)
    r.pointer("args", 0, "src")
    r.pointer("args", 8, "dst")
    r.call("args")
    nat = run_native(w.x86_code(), BASE, r)
    sve = run_qemu(_asm(w), r)
    assert (nat.array("dst", np.int32) == nat_out).all()
    assert nat.buffers["dst"] == sve.buffers["dst"]


# ---------------------------------------------------------------------------------------------
# the x86 model (translator/verify/x86model/system.py) against this CPU

def _model(raw: bytes, mxcsr: int, mem_value: int):
    from translator.decode import decode_one
    from translator.verify.state import MEM_BASE, X86State
    from translator.verify.x86model import execute
    insn = decode_one(raw, 0x401000)
    st = X86State()
    st.gpr["rdi"] = MEM_BASE
    st.mxcsr = mxcsr
    st.mem = mem_value.to_bytes(4, "little") + bytes(len(st.mem) - 4)
    out = execute(insn, st)
    return out.mxcsr, int.from_bytes(out.mem[:4], "little")


@needs_native
@pytest.mark.parametrize("value", [0x1F80, 0x3FBF, 0x1FC0, 0x9F80, 0xFFFF, 0x0000])
def test_model_matches_cpu(value):
    from translator.jit.runner import run_native as jit_native
    g = CodeGenerator(base=BASE, strict=False)
    g.stmxcsr(dword[rsp - 8])
    g.ldmxcsr(dword[rdi])
    g.stmxcsr(dword[rdi + 4])
    g.ldmxcsr(dword[rsp - 8])
    g.ret()
    buf = np.array([value, 0], np.uint32)
    jit_native(g, [buf])
    cpu = int(buf[1])
    mx, _ = _model(bytes.fromhex("0fae17"), 0x1F80, value)          # ldmxcsr [rdi]
    _, stored = _model(bytes.fromhex("0fae1f"), mx, 0)               # stmxcsr [rdi]
    assert stored == cpu == value


def test_model_reserved_bits_fault():
    from translator.verify.x86model import X86Fault
    with pytest.raises(X86Fault, match="#GP"):
        _model(bytes.fromhex("0fae17"), 0x1F80, 0x11F80)
