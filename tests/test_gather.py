"""Gathers (mapping_tables/gather.yaml) and xadd m64 (mapping_tables/gpr_more.yaml): model
semantics, VSIB instance generation / state placement, verify at every vector length, the corpus
sites, and the encoder's ldaddal against llvm-mc's bytes."""
from __future__ import annotations

import random

import numpy as np
import pytest

from translator.decode import decode_one
from translator.encode import assemble
from translator.ir import GPR64, Mem, Vec
from translator.lower import lower_snippet
from translator.verify import x86model as model
from translator.verify.forms import enumerate_forms
from translator.verify.harness import Harness
from translator.verify.state import MEM_BASE, MEM_SIZE, X86State
from translator.verify.states import place_memory, random_states

EVEX_ZMM = bytes.fromhex("62d27d49929c91c0050000")    # vgatherdps zmm3{k1}, [r9+zmm2*4+0x5c0] (record 36)
VEX_YMM = bytes.fromhex("c4c27d929ca120050000")       # vgatherdps ymm3, [r9+ymm4*4+0x520], ymm0
LOCK_XADD = bytes.fromhex("f0490fc100")               # lock xadd [r8], rax


def _state() -> X86State:
    st = X86State()
    st.mem = bytes(range(256)) * (MEM_SIZE // 256)
    return st


def test_model_evex_gather_merges_and_clears_k():
    insn = decode_one(EVEX_ZMM)
    st = _state()
    st.gpr["r9"] = MEM_BASE - 0x5C0
    idx = np.arange(16, dtype=np.int32)[::-1] * 3 - 2          # includes a negative index
    idx[idx < 0] = 5
    st.zmm[2] = idx.tobytes()
    st.zmm[3] = bytes([0xEE]) * 64
    st.k[1] = 0xA5A5
    out = model.execute(insn, st)
    got = np.frombuffer(out.zmm[3], np.uint32)
    mem = np.frombuffer(st.mem, np.uint8)
    for i in range(16):
        if (0xA5A5 >> i) & 1:
            off = int(idx[i]) * 4
            assert got[i] == int.from_bytes(mem[off:off + 4].tobytes(), "little")
        else:
            assert got[i] == 0xEEEEEEEE
    assert out.k[1] == 0


def test_model_vex_gather_sign_mask_and_fault():
    insn = decode_one(VEX_YMM)
    st = _state()
    st.gpr["r9"] = MEM_BASE - 0x520 + 64
    st.zmm[4] = np.array([-16, -1, 0, 1, 2, 3, 4, 100], np.int32).tobytes() + bytes(32)
    st.zmm[0] = np.array([1 << 31, 0, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 31, 0, 0, 1 << 31], np.uint32).tobytes() + bytes(32)
    st.zmm[3] = bytes([0x11]) * 64
    out = model.execute(insn, st)
    got = np.frombuffer(out.zmm[3], np.uint32)
    assert got[0] == int.from_bytes(st.mem[0:4], "little")                # 64 - 16*4 = 0
    assert got[1] == 0x11111111 and got[3] == 0x11111111
    assert out.zmm[0] == bytes(64) and out.zmm[3][32:] == bytes(32)
    st.zmm[4] = np.array([-17] + [0] * 7, np.int32).tobytes() + bytes(32)   # element 0 below the window
    with pytest.raises(model.X86Fault):
        model.execute(insn, st)
    st.zmm[0] = bytes(64)                                                     # ... inactive: no fault
    model.execute(insn, st)


def test_vsib_instances_and_placement():
    forms = enumerate_forms(only="gather")
    assert len(forms) == 20
    r = random.Random(1)
    states = random_states(np.random.default_rng(1), 64)
    for f in forms.values():
        for inst in f.instances:
            m = next(op for op in inst.insn.ops if isinstance(op, Mem))
            assert isinstance(m.index, Vec)
            assert m.index.index not in {op.index for op in inst.insn.ops if isinstance(op, Vec)}
    # placement puts every lane in the window except the deliberate out-of-window lanes
    f = forms["vgatherdps zmm{k}, vm32z"]
    inside = 0
    for st in states:
        insn = f.instances[0].insn
        place_memory(st, insn, r)
        m = insn.ops[1]
        idx = np.frombuffer(st.zmm[m.index.index], np.int32, 16)
        base = st.gpr[GPR64[m.base.index]] + m.disp
        ok = all(0 <= ((base + int(i) * m.scale) & (2**64 - 1)) - MEM_BASE <= MEM_SIZE - 4 for i in idx)
        inside += ok
    assert inside >= len(states) * 3 // 4


@pytest.mark.parametrize("vl", [512, 1024, 2048])
def test_verify_gather_and_xadd(vl):
    h = Harness(vl=vl, states=64)
    forms = enumerate_forms(only="gather|^xadd")
    assert "xadd m64, r64" in forms
    for name, f in forms.items():
        res = h.run_form(f)
        assert not res.skipped, (name, res.skipped)
        assert res.mismatches == 0, (name, res.failures[:1])
        assert res.states == 64


def test_corpus_site_lowering():
    lines = lower_snippet(decode_one(EVEX_ZMM)).lines
    assert "ld1w {z31.s}, p1/z, [x16, z2.s, sxtw #2]" in lines or any("sxtw #2]" in l for l in lines)
    assert any(l.startswith("pfalse") for l in lines)
    assemble(lines)
    vex = lower_snippet(decode_one(VEX_YMM)).lines
    assert "mov z0.d, #0" in vex and not any(l.startswith(("cmp", "subs", "adds")) for l in vex)
    assemble(vex)


def test_lock_xadd_is_ldaddal():
    lines = lower_snippet(decode_one(LOCK_XADD)).lines
    assert any(l.startswith("ldaddal x6, ") and l.endswith("[x16]") for l in lines)
    assert "brk #0x7861" in lines                        # a misaligned address traps
    assemble(lines)
    # encodings as llvm-mc -mattr=+lse gives them
    assert assemble(["ldaddal x1, x2, [x3]"]).hex() == "6200e1f8"
    assert assemble(["ldaddal x30, x0, [sp]"]).hex() == "e003fef8"
    assert assemble(["ldaddal x4, x16, [x17]"]).hex() == "3002e4f8"


def test_model_xadd_base_is_source():
    insn = decode_one(bytes.fromhex("4d0fc15b08"))          # xadd [r11+8], r11
    st = _state()
    st.gpr["r11"] = MEM_BASE
    old = int.from_bytes(st.mem[8:16], "little")
    out = model.execute(insn, st)
    assert out.gpr["r11"] == old
    assert int.from_bytes(out.mem[8:16], "little") == (old + MEM_BASE) % 2**64
