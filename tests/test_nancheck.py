"""One NaN check for two independent FP results (translator/lower/nancheck.py, exact NaN mode):
what is merged, and runs against the x86 model on NaN-rich states."""
from __future__ import annotations

import importlib
import random
import struct
from pathlib import Path

import pytest

from translator.jit import CodeGenerator, ptr, rax
from translator.jit import zmm0, zmm1, zmm2, zmm3, zmm4, zmm5, zmm6
from translator.lower.nancheck import pair_checks
from translator.encode import assemble
from translator.verify.arm_exec import SCRATCH_BASE, ArmRunner
from translator.verify.state import ArmState, X86State
from translator.verify.x86model import execute

from conftest import needs_arm

tr = importlib.import_module("translator.translate")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "onednn-avx512-core"


def _validate(name: str):
    """Translation validation of one corpus kernel in exact mode, past the kernel cache (which
    would hand back a translation made before a test's monkeypatch)."""
    from translator.verify import peephole_check
    tr.KERNEL_CACHE.clear()
    try:
        return peephole_check.check((CORPUS / name).read_bytes(), states=8, nan_mode="exact")
    finally:
        tr.KERNEL_CACHE.clear()


def _fma(acc: int, a: int, b: int, copy: int, n: int) -> list[str]:
    return [f"mov z{copy}.d, z{acc}.d", f"fmla z{acc}.s, p0/m, z{a}.s, z{b}.s",
            f"fcmuo p1.s, p0/z, z{acc}.s, z{acc}.s", "ptest p0, p1.b", f"b.ne .Lx{n + 1}", f".Lx{n}:"]


def _fix(acc: int, copy: int, n: int) -> list[str]:
    return [f".Lx{n + 1}:", f"fneg z{acc}.s, p1/m, z{acc}.s", f"fcmuo p2.s, p1/z, z{copy}.s, z{copy}.s",
            f"mov z{acc}.s, p2/m, z{copy}.s", f"b .Lx{n}"]


def test_two_independent_fmas_share_one_check():
    bodies = [_fma(1, 2, 3, 30, 1), _fma(4, 2, 5, 30, 3)]
    outlined = _fix(1, 30, 1) + _fix(4, 30, 3)
    dead = pair_checks(bodies, [True, False], outlined, 0, [30, 29])
    assert bodies[0] == ["mov z30.d, z1.d", "fmla z1.s, p0/m, z2.s, z3.s"]
    # the second copy moves to a register the unit never uses, so the first one survives
    assert bodies[1] == ["mov z29.d, z4.d", "fmla z4.s, p0/m, z2.s, z5.s",
                         "fcmuo p1.s, p0/z, z1.s, z4.s", "ptest p0, p1.b", "b.ne .Lx2", ".Lx3:"]
    # one slow path, the last fix-up first, each after recomputing its own NaN lanes
    assert outlined == [".Lx2:", "fcmuo p1.s, p0/z, z4.s, z4.s", "fneg z4.s, p1/m, z4.s",
                        "fcmuo p2.s, p1/z, z29.s, z29.s", "mov z4.s, p2/m, z29.s",
                        "fcmuo p1.s, p0/z, z1.s, z1.s", "fneg z1.s, p1/m, z1.s",
                        "fcmuo p2.s, p1/z, z30.s, z30.s", "mov z1.s, p2/m, z30.s", "b .Lx3"]
    assert set(dead) == {".Lx2"} and "z1" not in dead[".Lx2"] and "z4" not in dead[".Lx2"]


def test_three_or_four_checks_or_two_predicates():
    bodies = [_fma(1, 2, 3, 30, 1), _fma(4, 2, 5, 30, 3), _fma(6, 2, 7, 30, 5)]
    outlined = _fix(1, 30, 1) + _fix(4, 30, 3) + _fix(6, 30, 5)
    assert set(pair_checks(bodies, [True, False, False], outlined, 0, [30, 29, 28], [9])) == {".Lx2"}
    assert bodies[0][-1] == "fmla z1.s, p0/m, z2.s, z3.s" and bodies[1][-1] == "fmla z4.s, p0/m, z2.s, z5.s"
    assert bodies[2][-5:] == ["fcmuo p1.s, p0/z, z1.s, z4.s", "fcmuo p9.s, p0/z, z6.s, z6.s",
                              "orrs p1.b, p0/z, p1.b, p9.b", "b.ne .Lx2", ".Lx5:"]
    assert [b[0] for b in bodies] == ["mov z30.d, z1.d", "mov z29.d, z4.d", "mov z28.d, z6.d"]
    assert outlined[0] == ".Lx2:" and outlined[-1] == "b .Lx5" and len(outlined) == 1 + 3 * 4 + 1


def test_a_fix_up_never_undoes_a_later_reload_of_an_x86_register():
    """The first fix-up writes z31 as a temporary; the second instruction reloads z31's x86 value
    (a borrowed register's reload): merged, the fix-up would run after the reload."""
    first = _fma(1, 2, 3, 30, 1)
    second = _fma(4, 2, 5, 30, 3)[:-4] + ["ldr z31, [x28, #33, mul vl]"] + _fma(4, 2, 5, 30, 3)[-4:]
    fix1 = _fix(1, 30, 1)
    fix1 = fix1[:1] + ["mov z31.s, #0x400000"] + fix1[1:]
    args = ([first, second], [True, False], fix1 + _fix(4, 30, 3), 0, [30, 29], ())
    assert pair_checks(*[[list(b) for b in args[0]]] + list(args[1:]),
                       live=lambda k, n: [frozenset(), frozenset({"z31"})]) == {}
    assert pair_checks(*[[list(b) for b in args[0]]] + list(args[1:]),       # z31 dead there: fine
                       live=lambda k, n: [frozenset(), frozenset()]) != {}


def test_a_clobbered_broadcast_is_loaded_again_by_its_fix_up():
    """Dense kernels: both broadcast FMAs load into z31 and copy into z27, with no register to
    spare. The first copy goes to a scratch slot; the first fix-up (run last) loads its
    broadcast again and its copy back."""
    def bcst(acc, disp, n):
        return [f"add x16, x13, #{disp}", "ld1rw {z31.s}, p0/z, [x16]"] + _fma(acc, 28, 31, 27, n)
    bodies = [bcst(0, 256, 1), bcst(1, 512, 3)]
    # the fix-ups read the broadcast (z31) and the copy (z27)
    out = [".Lx2:", "fneg z0.s, p1/m, z0.s", "fcmuo p2.s, p1/z, z31.s, z31.s", "mov z0.s, p2/m, z31.s",
                     "fcmuo p2.s, p1/z, z27.s, z27.s", "mov z0.s, p2/m, z27.s", "b .Lx1",
                     ".Lx4:", "fneg z1.s, p1/m, z1.s", "fcmuo p2.s, p1/z, z31.s, z31.s", "mov z1.s, p2/m, z31.s",
                     "fcmuo p2.s, p1/z, z27.s, z27.s", "mov z1.s, p2/m, z27.s", "b .Lx3"]
    assert pair_checks(bodies, [True, False], out, 0, [], live=lambda k, n: [frozenset()] * n) != {}
    assert bodies[0][2] == "str z0, [x28, #36, mul vl]"
    first_fix = out[out.index("fcmuo p1.s, p0/z, z0.s, z0.s"):]
    assert first_fix[1:4] == ["add x16, x13, #256", "ld1rw {z31.s}, p0/z, [x16]", "ldr z27, [x28, #36, mul vl]"] \
        or first_fix[1:4] == ["ldr z27, [x28, #36, mul vl]", "add x16, x13, #256", "ld1rw {z31.s}, p0/z, [x16]"]
    assert out.index("fcmuo p1.s, p0/z, z1.s, z1.s") < out.index("fcmuo p1.s, p0/z, z0.s, z0.s")


@needs_arm
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
@pytest.mark.parametrize("what", ["stash", "load"])
def test_translation_validation_catches_a_fix_up_that_does_not_bring_back(monkeypatch, what):
    """Drop the reload of the stashed copy, or the repeated broadcast load: caught."""
    from translator.lower import nancheck
    real = nancheck._restore

    def broken(reg, core, clobbered, mem, slot, p_all):
        r = real(reg, core, clobbered, mem, slot, p_all)
        if r is not None and r[2] == (what == "stash"):
            return r[0], [], r[2]
        return r
    monkeypatch.setattr(nancheck, "_restore", broken)
    assert _validate("dnnl_dump_cpu__jit_avx512_common_conv_fwd_kernel.10.bin").mismatches


def test_dependent_or_unrenamable_pairs_stay_apart():
    dep = [_fma(1, 2, 3, 30, 1), _fma(4, 1, 5, 30, 3)]          # the second reads the first result
    out = _fix(1, 30, 1) + _fix(4, 30, 3)
    assert pair_checks(dep, [True, False], out, 0, [30, 29]) == {}
    stuck = [_fma(1, 2, 3, 30, 1), _fma(4, 2, 5, 30, 3)]        # no spare register for the copy:
    out = _fix(1, 30, 1) + _fix(4, 30, 3)                       # it goes to a scratch slot
    assert pair_checks(stuck, [True, False], out, 0, [30], live=lambda k, n: [frozenset()] * n) != {}
    assert stuck[0][0] == "str z1, [x28, #36, mul vl]" and stuck[1][0] == "mov z30.d, z4.d"
    assert out[out.index("fcmuo p1.s, p0/z, z1.s, z1.s") + 1] == "ldr z30, [x28, #36, mul vl]"
    apart = [_fma(1, 2, 3, 30, 1), _fma(4, 2, 5, 30, 3)]        # a label between them
    assert pair_checks(apart, [True, True], _fix(1, 30, 1) + _fix(4, 30, 3), 0, [30, 29]) == {}


def _kernel() -> bytes:
    g = CodeGenerator(strict=False)
    g.vfmadd231ps(zmm0, zmm1, zmm2)
    g.vfmadd231ps(zmm3, zmm4, zmm2)
    g.vaddps(zmm5, zmm5, zmm6)
    g.vmulps(zmm6, zmm1, ptr[rax])
    return g.x86_code()


_F32 = [0x7FC00000, 0xFFC00000, 0x7FA00001, 0xFF812345, 0x7F800000, 0xFF800000, 0x00000000, 0x80000000,
        0x3F800000, 0x00000001]


def _nan_rich(rng: random.Random) -> bytes:
    return struct.pack("<16I", *(rng.choice(_F32) if rng.random() < 0.4 else rng.getrandbits(32) for _ in range(16)))


@needs_arm
def test_merged_checks_match_the_x86_model_on_nan_rich_states():
    t = tr.translate(_kernel(), base=0, linear=True, nan_mode="exact")
    assert any(v.ones is None for v in t.fused.values()), t.listing()
    body = [l for i, b in t.lines if i is not None for l in b]
    code = assemble(t.setup + body + ["b .Lx2sve_test_end"] + t.outlined + [".Lx2sve_test_end:"])
    runner = ArmRunner(512)
    rng = random.Random(11)
    for _ in range(40):
        x = X86State()
        x.zmm = [_nan_rich(rng) for _ in range(32)]
        x.mem = b"".join(_nan_rich(rng) for _ in range(len(x.mem) // 64))
        x.gpr["rax"] = x.mem_base
        a = ArmState(512)
        a.z, a.mem, a.mem_base = list(x.zmm), x.mem, x.mem_base
        a.x[6], a.x[28] = x.mem_base, SCRATCH_BASE
        for insn in (i for i, _ in t.lines if i is not None):
            x = execute(insn, x)
        out = runner.run(code, a)
        assert [out.z[k] for k in range(7)] == [x.zmm[k] for k in range(7)]


@needs_arm
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
def test_translation_validation_catches_a_fix_up_that_skips_its_recompute(monkeypatch):
    from translator.lower import nancheck
    real = nancheck._group

    def broken(bodies, checks, detours, p_all, free_z, free_p, live=None):
        r = real(bodies, checks, detours, p_all, free_z, free_p, live)
        if r is None:
            return None
        new, slow, dead = r
        again = {f"fcmuo {c.pn}.{c.T}, {c.pg}/z, {c.r}.{c.T}, {c.r}.{c.T}" for c in checks[1:]}
        return new, [l for l in slow if l not in again], dead
    monkeypatch.setattr(nancheck, "_group", broken)
    assert _validate("dnnl_dump_cpu_jit_avx512_common_1x1_conv_kernel.7.bin").mismatches
