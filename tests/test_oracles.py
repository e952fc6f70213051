"""The x86 oracles (native CPU, bochs) against values worked out by hand / numpy."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from translator.oracles import bochs, native
from translator.oracles._asm import M, asm64
from translator.oracles.common import ExceptionResult
from translator.verify.state import MEM_BASE, X86State

F32 = np.float32


def f32s(*v) -> bytes:
    return np.array(v, dtype=np.float32).tobytes()


def zmm_f32(vals) -> bytes:
    return np.asarray(vals, dtype=np.float32).tobytes().ljust(64, b"\0")


def as_f32(b: bytes) -> np.ndarray:
    return np.frombuffer(bytes(b), dtype=np.float32)


def ok(r):
    assert not isinstance(r, ExceptionResult), r
    return r


# ------------------------------------------------------------------------------------------------
# native
needs_native = pytest.mark.skipif(not native.available(), reason="needs an x86-64 host with AVX2/FMA")


@pytest.fixture(scope="module")
def nat():
    r = native.NativeRunner()
    yield r
    r.close()


@needs_native
def test_native_vaddps_ymm(nat):
    a = np.arange(8, dtype=F32) * F32(1.25)
    b = np.array([0.5, -1, 3, 1e10, -0.0, 7, 1e-3, 2], dtype=F32)
    s = X86State()
    s.zmm[1] = a.tobytes().ljust(64, b"\xAA")
    s.zmm[2] = b.tobytes().ljust(64, b"\xBB")
    s.zmm[5] = bytes(range(64))
    o = ok(nat.run(asm64(("VEX_VADDPS_YMM_YMM_YMMM256", "ymm0", "ymm1", "ymm2")), s))
    assert o.zmm[0][:32] == (a + b).tobytes()
    if nat.full:   # VEX.256 zeroes bits 511:256 of the destination
        assert o.zmm[0][32:] == bytes(32)
    assert o.zmm[1] == s.zmm[1] and o.zmm[5] == s.zmm[5]


@needs_native
def test_native_add_flags(nat):
    code = asm64(("ADD_RM64_R64", "rax", "rbx"))
    s1 = X86State()
    s1.gpr.update(rax=2**64 - 1, rbx=1)
    s2 = X86State()
    s2.gpr.update(rax=2**63 - 1, rbx=1)
    s3 = X86State()
    s3.gpr.update(rax=5, rbx=7)
    s3.rflags = 0x202 | 0x8D5   # all status flags set on entry: ADD must recompute them
    o1, o2, o3 = map(ok, nat.run_many(code, [s1, s2, s3]))
    assert o1.gpr["rax"] == 0 and o1.rflags == 0x202 | 0x1 | 0x4 | 0x10 | 0x40      # CF PF AF ZF
    assert o2.gpr["rax"] == 2**63 and o2.rflags == 0x202 | 0x4 | 0x10 | 0x80 | 0x800  # PF AF SF OF
    assert o3.gpr["rax"] == 12 and o3.rflags == 0x202 | 0x4                          # PF only
    assert o1.gpr["rbx"] == 1


@needs_native
def test_native_vfmadd231ps_single_rounding(nat):
    # (1+2^-12)^2 - 1 = 2^-11 + 2^-24 exactly when fused; an unfused mul+add gives 2^-11
    a = F32(1 + 2**-12)
    s = X86State()
    s.zmm[0] = zmm_f32([-1.0] * 8)
    s.zmm[1] = zmm_f32([a] * 8)
    s.zmm[2] = zmm_f32([a] * 8)
    o = ok(nat.run(asm64(("VEX_VFMADD231PS_YMM_YMM_YMMM256", "ymm0", "ymm1", "ymm2")), s))
    assert list(as_f32(o.zmm[0][:32])) == [F32(2**-11 + 2**-24)] * 8


@needs_native
def test_native_mxcsr_rounding(nat):
    # 1 + 1.5*2^-24 lies 3/4 of an ulp above 1.0
    s = X86State()
    s.zmm[1] = zmm_f32([1.0] * 4)
    s.zmm[2] = zmm_f32([1.5 * 2**-24] * 4)
    code = asm64(("VEX_VADDPS_XMM_XMM_XMMM128", "xmm0", "xmm1", "xmm2"))
    states = []
    for rc in (0, 1, 2, 3):   # nearest, down, up, toward zero
        t = s.copy()
        t.mxcsr = 0x1F80 | rc << 13
        states.append(t)
    up = F32(1 + 2**-23)
    want = [up, F32(1.0), up, F32(1.0)]
    for o, w, t in zip(nat.run_many(code, states), want, states):
        o = ok(o)
        assert list(as_f32(o.zmm[0][:16])) == [w] * 4
        assert o.mxcsr == t.mxcsr | 0x20          # PE raised, rounding mode kept


@needs_native
def test_native_memory_window(nat):
    s = X86State()
    mem = bytearray(4096)
    mem[0x40:0x60] = f32s(*range(8))
    mem[0x08:0x10] = struct.pack("<Q", 0x1122334455667788)
    s.mem = bytes(mem)
    s.gpr["rbx"] = 0xDEADBEEF
    code = asm64(("VEX_VMOVUPS_YMM_YMMM256", "ymm3", M(disp=MEM_BASE + 0x40)),
                 ("MOV_R64_RM64", "rax", M(disp=MEM_BASE + 0x08)),
                 ("MOV_RM64_R64", M(disp=MEM_BASE + 0x100), "rbx"))
    o = ok(nat.run(code, s))
    assert o.zmm[3][:32] == f32s(*range(8))
    assert o.gpr["rax"] == 0x1122334455667788
    assert o.mem[0x100:0x108] == struct.pack("<Q", 0xDEADBEEF)
    assert o.mem[:0x100] == s.mem[:0x100]


@needs_native
def test_native_faults_are_reported(nat):
    s = X86State()
    r = nat.run_many([bytes.fromhex("0f0b"),                                  # ud2
                      asm64(("MOV_R64_RM64", "rax", M(disp=MEM_BASE + 4096))),  # past the window
                      asm64(("ADD_RM64_IMM32", "rax", 1))], [s, s, s])
    assert isinstance(r[0], ExceptionResult) and r[0].vector == 6 and r[0].rip_offset == 0
    assert isinstance(r[1], ExceptionResult) and r[1].vector == 14 and r[1].addr == MEM_BASE + 4096
    assert ok(r[2]).gpr["rax"] == 1       # the worker survives


@needs_native
def test_native_push_moves_rsp(nat):
    s = X86State()
    s.gpr.update(rsp=0x7000, rax=42)
    o = ok(nat.run(asm64(("PUSH_R64", "rax"), ("POP_R64", "rcx"), ("PUSH_R64", "rax")), s))
    assert o.gpr["rsp"] == 0x7000 - 8 and o.gpr["rcx"] == 42


# ------------------------------------------------------------------------------------------------
# bochs: every case in one boot
needs_bochs = pytest.mark.skipif(not bochs.available(), reason="needs bochs 2.7 + script (apt: bochs bochsbios vgabios bochs-term)")


def _bochs_cases():
    cases = {}
    rng = np.random.default_rng(7)

    s = X86State()
    a = rng.uniform(-10, 10, 16).astype(F32)
    b = rng.uniform(-10, 10, 16).astype(F32)
    s.zmm[0] = bytes([0x77]) * 64
    s.zmm[1], s.zmm[2] = a.tobytes(), b.tobytes()
    s.k[1] = 0xA5A5
    mask = np.array([(0xA5A5 >> i) & 1 for i in range(16)], bool)
    cases["vaddps_kz"] = (asm64(("EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1", "zmm2",
                                 {"k": "k1", "z": True})),
                          s, np.where(mask, a + b, F32(0)).astype(F32).tobytes())

    s = X86State()
    x = rng.integers(0, 2**32, 16, dtype=np.uint32)
    y = rng.integers(0, 2**32, 16, dtype=np.uint32)
    s.zmm[17], s.zmm[31] = x.tobytes(), y.tobytes()
    cases["zmm16_31"] = (asm64(("EVEX_VPADDD_ZMM_K1Z_ZMM_ZMMM512B32", "zmm16", "zmm17", "zmm31")),
                         s, (x + y).tobytes())

    s = X86State()
    s.gpr["rax"] = 0x12345
    s.k[3] = 0xFFFFFFFF00001234
    cases["kmovw"] = (asm64(("VEX_KMOVW_KR_R32", "k2", "eax"), ("VEX_KMOVW_R32_KR", "ecx", "k3")), s, None)

    s = X86State()
    mem = bytearray(4096)
    mem[0x10:0x14] = f32s(0.25)
    s.mem = bytes(mem)
    c = rng.uniform(-4, 4, 16).astype(F32)
    s.zmm[1] = c.tobytes()
    cases["bcst"] = (asm64(("EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1",
                            M(disp=MEM_BASE + 0x10, bcst=True))), s, (c + F32(0.25)).tobytes())

    cases["bf16_ud"] = (asm64(("EVEX_VDPBF16PS_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
                        X86State(), None)
    cases["pf"] = (asm64(("MOV_R64_RM64", "rax", M(disp=MEM_BASE + 4096))), X86State(), None)

    s = X86State()
    s.gpr.update(rax=2**63 - 1, rbx=1, rsp=0x9000)
    cases["flags"] = (asm64(("ADD_RM64_R64", "rax", "rbx"), ("PUSH_R64", "rax")), s, None)
    return cases


@pytest.fixture(scope="module")
def bochs_results():
    cases = _bochs_cases()
    names = list(cases)
    res = bochs.BochsRunner("tigerlake").run_many([cases[n][0] for n in names],
                                                  [cases[n][1] for n in names])
    return {n: (cases[n][1], cases[n][2], r) for n, r in zip(names, res)}


@needs_bochs
def test_bochs_vaddps_zeroing_mask(bochs_results):
    s, want, r = bochs_results["vaddps_kz"]
    o = ok(r)
    assert o.zmm[0] == want
    assert o.zmm[1] == s.zmm[1] and o.k[1] == 0xA5A5


@needs_bochs
def test_bochs_zmm16_31(bochs_results):
    s, want, r = bochs_results["zmm16_31"]
    o = ok(r)
    assert o.zmm[16] == want
    assert o.zmm[31] == s.zmm[31] and o.zmm[17] == s.zmm[17]


@needs_bochs
def test_bochs_kmovw(bochs_results):
    _, _, r = bochs_results["kmovw"]
    o = ok(r)
    assert o.k[2] == 0x2345
    assert o.gpr["rcx"] == 0x1234
    assert o.k[3] == 0xFFFFFFFF00001234


@needs_bochs
def test_bochs_memory_broadcast(bochs_results):
    _, want, r = bochs_results["bcst"]
    assert ok(r).zmm[0] == want


@needs_bochs
def test_bochs_bf16_is_ud(bochs_results):
    _, _, r = bochs_results["bf16_ud"]
    assert isinstance(r, ExceptionResult) and r.vector == 6 and r.name == "#UD"
    assert r.rip_offset == 0


@needs_bochs
def test_bochs_page_fault_outside_window(bochs_results):
    _, _, r = bochs_results["pf"]
    assert isinstance(r, ExceptionResult) and r.vector == 14 and r.addr == MEM_BASE + 4096


@needs_bochs
def test_bochs_gpr_flags_and_stack(bochs_results):
    _, _, r = bochs_results["flags"]
    o = ok(r)
    assert o.gpr["rax"] == 2**63
    assert o.rflags == 0x202 | 0x4 | 0x10 | 0x80 | 0x800
    assert o.gpr["rsp"] == 0x9000 - 8


@needs_bochs
@needs_native
def test_bochs_agrees_with_native_on_shared_code(nat, bochs_results):
    """The flag case runs the same way on both executors (only when native can run it)."""
    s, _, r = bochs_results["flags"]
    assert nat.run(asm64(("ADD_RM64_R64", "rax", "rbx"), ("PUSH_R64", "rax")), s) == r
