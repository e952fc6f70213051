"""Fused int8 dot triples (translator/lower/fuse.py): what is fused, the code, and runs against
the x86 model on both paths (weights inside [-64, 63]: the fast path; any bytes: the slow path)."""
from __future__ import annotations

import importlib
import random
from pathlib import Path

import pytest

from translator.jit import CodeGenerator, ptr, r14, r14d, r14w, rax
from translator.jit import zmm0, zmm1, zmm2, zmm3, zmm21, zmm22, zmm28, zmm29, zmm30, zmm31
from translator.encode import assemble
from translator.verify.arm_exec import ArmRunner
from translator.verify.peephole_check import SMALL_I8
from translator.verify.state import ArmState, X86State
from translator.verify.x86model import execute

from conftest import needs_arm

tr = importlib.import_module("translator.translate")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "onednn-avx512-core"


def _dot_kernel(tail=None) -> bytes:
    """The ones idiom, then two broadcasts (zmm31, zmm30) times two weights (zmm21, zmm22)
    into four accumulators, as oneDNN's 1x1 int8 convolution does."""
    g = CodeGenerator(strict=False)
    g.xor_(r14, r14)
    g.mov(r14w, 1)
    g.vpbroadcastw(zmm29, r14d)
    for a, accs in ((zmm31, (zmm0, zmm1)), (zmm30, (zmm2, zmm3))):
        for b, acc in zip((zmm21, zmm22), accs):
            g.vpmaddubsw(zmm28, a, b)
            g.vpmaddwd(zmm28, zmm28, zmm29)
            g.vpaddd(acc, acc, zmm28)
    g.vmovups(zmm28, ptr[rax])       # T is dead after the group
    if tail:
        tail(g)
    return g.x86_code()


def _chained_kernel() -> bytes:
    """Two groups in one stretch: the weight zmm21 is reloaded between them (vmovups)."""
    g = CodeGenerator(strict=False)
    g.xor_(r14, r14)
    g.mov(r14w, 1)
    g.vpbroadcastw(zmm29, r14d)
    for acc in (zmm0, zmm1):
        g.vpmaddubsw(zmm28, zmm31, zmm21)
        g.vpmaddwd(zmm28, zmm28, zmm29)
        g.vpaddd(acc, acc, zmm28)
        g.vmovups(zmm21, ptr[rax + 64])
    g.vmovups(zmm28, ptr[rax])
    return g.x86_code()


def _translate(code: bytes, **kw):
    return tr.translate(code, base=0, linear=True, nan_mode="fast", **kw)


def test_a_run_of_triples_becomes_one_group_with_two_dot_products_per_triple():
    t = _translate(_dot_kernel())
    assert len(t.fused) == 1
    fused = [l for i, b in t.lines if i is not None and i.mnemonic == "vpmaddubsw" for l in b]
    assert fused[:7] == ["add z21.b, z21.b, #64", "add z22.b, z22.b, #64",
                         "orr z28.d, z21.d, z22.d", "cmplt p1.b, p0/z, z28.b, #0",
                         "b.ne .Lx2sve_dot1", "dup z29.b, #64", "dup z28.s, #0"]
    assert "udot z0.s, z31.b, z21.b" in fused and "sub z0.s, z0.s, z28.s" in fused
    # the per-broadcast correction 64 * sum(a) is computed once per broadcast register
    assert fused.count("dup z28.s, #0") == 2
    # everything is live at the end of this unit: the weights and the ones come back
    last = [b for i, b in t.lines if i is not None and i.mnemonic == "vpaddd"][-1]
    assert last[-4:] == ["sub z21.b, z21.b, #64", "sub z22.b, z22.b, #64", "dup z29.h, #1",
                         ".Lx2sve_dot1r:"]
    inline = sum(len([l for l in b if not l.endswith(":")]) for i, b in t.lines
                 if i is not None and i.mnemonic in ("vpmaddubsw", "vpmaddwd", "vpaddd"))
    assert inline == 6 + 2 * 2 + 4 * 2 + 3          # head, 2 corrections, 4 x (udot, sub), restores
    # the slow path restores the weights and runs the per-instruction lowering
    slow = t.outlined[t.outlined.index(".Lx2sve_dot1:"):]
    assert slow[1:3] == ["sub z21.b, z21.b, #64", "sub z22.b, z22.b, #64"]
    assert slow[-1] == "b .Lx2sve_dot1r" and "sqadd z28.h, z28.h, z30.h" not in slow[:3]


def test_nothing_is_fused_without_the_passes_or_when_a_weight_is_rewritten_inside():
    assert _translate(_dot_kernel(), peephole=False).fused == {}
    g = CodeGenerator(strict=False)
    g.xor_(r14, r14)
    g.mov(r14w, 1)
    g.vpbroadcastw(zmm29, r14d)
    g.vpmaddubsw(zmm28, zmm31, zmm21)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.vpaddd(zmm0, zmm0, zmm28)
    g.vmovups(zmm21, ptr[rax])                   # a new weight: checked at the start of its group
    g.vpmaddubsw(zmm28, zmm31, zmm21)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.vpaddd(zmm1, zmm1, zmm28)
    g.vmovups(zmm28, ptr[rax])
    assert len(_translate(g.x86_code()).fused) == 2
    g2 = CodeGenerator(strict=False)             # no known ones: the pair sum is not a dot product
    g2.vpmaddubsw(zmm28, zmm31, zmm21)
    g2.vpmaddwd(zmm28, zmm28, zmm29)
    g2.vpaddd(zmm0, zmm0, zmm28)
    g2.vmovups(zmm28, ptr[rax])
    assert _translate(g2.x86_code()).fused == {}


def test_dead_weights_and_ones_are_not_restored():
    def clobber(g):
        g.vmovups(zmm21, ptr[rax])
        g.vmovups(zmm22, ptr[rax + 64])
        g.vmovups(zmm29, ptr[rax + 128])
    t = _translate(_dot_kernel(clobber))
    body = [b for i, b in t.lines if i is not None and i.mnemonic == "vpaddd"][-1]
    assert body == ["udot z3.s, z30.b, z22.b", "sub z3.s, z3.s, z28.s", ".Lx2sve_dot1r:"] or \
        body[-1] == ".Lx2sve_dot1r:" and not any(l.startswith(("dup z29", "sub z21")) for l in body)


def _program(t, slow_traps: bool = False) -> bytes:
    body = [l for i, b in t.lines if i is not None for l in b]
    slow = list(t.outlined)
    if slow_traps:
        slow = [l if l.endswith(":") else "brk #1" for l in slow]
    return assemble(t.setup + body + ["b .Lx2sve_test_end"] + slow + [".Lx2sve_test_end:"])


def _states(rng: random.Random, small: bool):
    x = X86State()
    x.zmm = [rng.randbytes(64) for _ in range(32)]
    if small:
        x.zmm = [z.translate(SMALL_I8) for z in x.zmm]
    for k in (21, 22):               # edge weights: -64, 63, and (outside the range) -65, 64
        z = bytearray(x.zmm[k])
        z[0:4] = bytes([0xC0, 0x3F, 0xC0, 0x3F]) if small else bytes([0xBF, 0x40, 0x80, 0x7F])
        x.zmm[k] = bytes(z)
    for k in (30, 31):               # u8 edges: 0 and 255 in the broadcasts
        z = bytearray(x.zmm[k])
        z[0:4] = bytes([0xFF, 0xFF, 0x00, 0xFF])
        x.zmm[k] = bytes(z)
    x.mem = rng.randbytes(len(x.mem))
    if small:                        # weights loaded from memory are 7-bit too
        x.mem = x.mem.translate(SMALL_I8)
    x.gpr["rax"] = x.mem_base
    a = ArmState(512)
    a.z = list(x.zmm)
    a.mem, a.mem_base = x.mem, x.mem_base
    a.x[6] = x.mem_base              # rax
    from translator.lower.regmap import X_CTX
    from translator.verify.arm_exec import SCRATCH_BASE
    a.x[X_CTX] = SCRATCH_BASE
    return x, a


def test_consecutive_groups_chain_through_the_ones_register():
    t = _translate(_chained_kernel())
    assert len(t.fused) == 2
    bodies = [b for i, b in t.lines if i is not None and i.mnemonic == "vpmaddubsw"]
    assert "dup z29.b, #64" in bodies[0] and "dup z29.b, #64" not in bodies[1]
    tails = [b for i, b in t.lines if i is not None and i.mnemonic == "vpaddd"]
    assert "dup z29.h, #1" not in tails[0] and "dup z29.h, #1" in tails[1]
    # the first slow path leaves the bias bytes the second group expects; the second rebuilds
    # the ones before running the per-instruction lowering
    s1 = t.outlined[t.outlined.index(".Lx2sve_dot1:"):t.outlined.index(".Lx2sve_dot2:")]
    s2 = t.outlined[t.outlined.index(".Lx2sve_dot2:"):]
    assert s1[-2:] == ["dup z29.b, #64", "b .Lx2sve_dot1r"]
    assert s2[1] == "dup z29.h, #1" and s2[-1] == "b .Lx2sve_dot2r"


@needs_arm
@pytest.mark.parametrize("small", [True, False])
@pytest.mark.parametrize("kernel", [_dot_kernel, _chained_kernel])
def test_fused_group_matches_the_x86_model_on_both_paths(small, kernel):
    code = kernel()
    t = _translate(code)
    runner = ArmRunner(512)
    rng = random.Random(7 + small)
    for _ in range(6):
        x, a = _states(rng, small)
        for insn in (i for i, _ in t.lines if i is not None):
            x = execute(insn, x)
        if small:
            out = runner.run(_program(t, slow_traps=True), a)     # the fast path, never the slow one
        else:
            out = runner.run(_program(t), a)
        used = sorted({o.index for i, _ in t.lines if i is not None for o in i.ops
                       if type(o).__name__ == "Vec"})    # the rest are the translator's temporaries
        assert [out.z[k] for k in used] == [x.zmm[k] for k in used]


@needs_arm
def test_a_wrong_fast_path_is_caught():
    t = _translate(_dot_kernel())
    for n, (i, b) in enumerate(t.lines):
        if i is not None and i.mnemonic == "vpmaddubsw":
            t.lines[n] = (i, [l.replace("#64", "#63") if l.startswith("dup") else l for l in b])
    x, a = _states(random.Random(3), True)
    for insn in (i for i, _ in t.lines if i is not None):
        x = execute(insn, x)
    assert ArmRunner(512).run(_program(t), a).z[:4] != x.zmm[:4]


@needs_arm
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
def test_translation_validation_covers_the_fused_groups_of_real_kernels():
    from translator.verify import peephole_check
    for name in ("dnnl_dump_cpu_jit_brgemm_kernel_t.60.bin",
                 "dnnl_dump_cpu__jit_avx512_core_x8s8s32x_1x1_conv_fwd_ker_t.25.bin"):
        code = (CORPUS / name).read_bytes()
        assert tr.translate(code, allow_unsupported=True, nan_mode="fast").fused
        rep = peephole_check.check(code, states=8, nan_mode="fast")
        assert rep.mismatches == [] and rep.skipped == [] and rep.ran == rep.segments


@needs_arm
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
def test_translation_validation_catches_a_broken_fused_group(monkeypatch):
    from translator.lower import fuse
    from translator.verify import peephole_check
    real = fuse.fuse

    def broken(seq, bodies, groups, **kw):
        out = real(seq, bodies, groups, **kw)
        for b in bodies:
            b[:] = [l.replace("sub z", "add z") if ".s, z" in l and l.startswith("sub") else l for l in b]
        return out
    monkeypatch.setattr(tr, "fuse_lines", broken)
    code = (CORPUS / "dnnl_dump_cpu__jit_avx512_core_x8s8s32x_1x1_conv_fwd_ker_t.25.bin").read_bytes()
    tr.KERNEL_CACHE.clear()             # a cached translation would hide the broken one
    try:
        rep = peephole_check.check(code, states=8, nan_mode="fast")
    finally:
        tr.KERNEL_CACHE.clear()
    assert rep.mismatches


@pytest.mark.parametrize("key", ["conv_int8_w7", "conv_int8_1x1_w7"])
def test_real_int8_kernels_with_7_bit_weights_run_on_fast_paths_alone(key):
    """The AVX-512 int8 convolutions (translator/e2e, conv_int8*) with oneDNN's 7-bit weights:
    with every fused group's slow path trapping, the SVE output still equals the x86 output
    (native on an AVX-512 host, else the recorded digest)."""
    import json
    import numpy as np
    from translator.e2e import (GOLDEN, KERNELS, bit_diff, corpus_jitdump, digest, load_kernel,
                                native_missing, qemu_missing, run_native, run_qemu)
    from translator.lower.fuse import slow_paths_trapping
    if corpus_jitdump() is None or qemu_missing():
        pytest.skip("needs the oneDNN jitdump and qemu")
    spec = KERNELS[key]
    k = load_kernel(spec)
    case = spec.make(np.random.default_rng(0))
    t = tr.translate(k.code, base=k.address, symbol="kernel")
    assert t.fused
    sve = run_qemu(slow_paths_trapping(t.asm()), case.request)
    names = [o.buffer for o in case.outputs]
    if native_missing() is None:
        assert bit_diff(run_native(k.code, k.address, case.request), sve, names) == []
    else:
        g = json.loads(GOLDEN.read_text())[key]
        assert g["request"] == digest(case.request) and digest(sve, names) == g["outputs"]
    case.check_reference(sve, "sve")
