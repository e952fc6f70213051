"""Code quality passes over a whole unit: borrowed vector registers (lower/borrow.py), the
``{live:zN}`` line guard (vzeroupper) and displacement folding in addresses (lower/address.py).

Each is pinned twice: the exact A64 it produces, and a run of a high-pressure kernel under
unicorn that must equal native x86 (where the host has AVX-512) and numpy bit for bit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from translator.jit import CodeGenerator, ptr, ptr_b, rdi, rdx, rsi, run_function, run_native
from translator.jit import operands as jo
from translator.lower.borrow import BorrowPlan, engine_spills, plan_borrows
from translator.oracles import native

HAVE_NATIVE = native.available() and native.has_avx512()


@dataclass
class _I:
    address: int
    next_address: int
    flow: str = "next"


def _unit(n: int):
    return [_I(4 * i, 4 * i + 4) for i in range(n)]


def _spill(z: int) -> list[str]:
    return [f"str z{z}, [x28, #4, mul vl]", "fmla z1.s, p0/m, z2.s, z30.s", f"ldr z{z}, [x28, #4, mul vl]"]


def test_engine_spills_counts_only_per_instruction_slots():
    assert engine_spills(_spill(30), 512) == 1
    assert engine_spills(["str z0, [x28, #32, mul vl]"], 512) == 0      # a borrow slot
    assert engine_spills(["str z0, [x1, #4, mul vl]"], 512) == 0


def test_plan_picks_the_register_used_farthest_away():
    order = _unit(5)
    bodies = {i.address: _spill(30) for i in order[:4]}
    everything = frozenset(range(32))
    vlive = {i.address: everything for i in order}
    touched = {0: {1, 2}, 4: {3, 2}, 8: {4, 2}, 12: {5, 2}, 16: set(range(32))}
    plan = plan_borrows(order, bodies, vlive, lambda i: frozenset(touched[i.address]), set(), 512)
    # z0 is touched by nobody until the vzeroupper-like instruction at 16
    assert plan.runs == 1
    assert plan.pre == {0: ["str z0, [x28, #32, mul vl]"]}
    assert plan.post == {12: ["ldr z0, [x28, #32, mul vl]"]}
    assert all(plan.dead[a] == {0} for a in (0, 4, 8, 12))


def test_plan_never_crosses_a_label_or_keeps_a_one_instruction_run():
    order = _unit(4)
    bodies = {i.address: _spill(30) for i in order}
    vlive = {i.address: frozenset(range(32)) for i in order}
    plan = plan_borrows(order, bodies, vlive, lambda i: frozenset({1, 2}), {8}, 512)
    assert plan.pre == {0: ["str z0, [x28, #32, mul vl]"], 8: ["str z0, [x28, #32, mul vl]"]}
    assert plan.post == {4: ["ldr z0, [x28, #32, mul vl]"], 12: ["ldr z0, [x28, #32, mul vl]"]}
    single = plan_borrows(order[:1], bodies, vlive, lambda i: frozenset({1}), set(), 512)
    assert not single and single.runs == 0


def test_plan_skips_control_flow():
    order = _unit(3)
    order[1].flow = "conditional_branch"
    bodies = {i.address: _spill(30) for i in order}
    vlive = {i.address: frozenset(range(32)) for i in order}
    assert plan_borrows(order, bodies, vlive, lambda i: frozenset({1}), set(), 512).runs == 0


# ---------------------------------------------------------------------------------------------
# A kernel with all 32 zmm live: 28 accumulators, broadcast FMAs, like a brgemm block

class _Pressure(CodeGenerator):
    """C[32][16] += A[k] * B[j] for 28 accumulators zmm4..31 and B rows in zmm0..3."""

    def __init__(self, nan_mode: str = "exact"):
        super().__init__(nan_mode=nan_mode)
        z = [getattr(jo, f"zmm{i}") for i in range(32)]
        for i in range(32):                                  # everything live
            self.vmovups(z[i], ptr[rdx + 64 * i])
        for j in range(4):
            for i in range(4, 32):
                self.vfmadd231ps(z[i], z[j], ptr_b[rsi + 4 * (i * 4 + j) + 0x100 * (j % 2)])
        for i in range(32):
            self.vmovups(ptr[rdx + 64 * i], z[i])
        self.ret()


def _pressure_reference(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    c = c.reshape(32, 16).copy()
    for j in range(4):
        for i in range(4, 32):
            with np.errstate(invalid="ignore"):
                c[i] = np.float32(np.float64(a[i * 4 + j + 64 * (j % 2)]) * np.float64(c[j]) + np.float64(c[i]))
    return c.reshape(-1)


def test_pressure_kernel_borrows_instead_of_spilling():
    for mode in ("fast", "exact"):
        t = _Pressure(mode).translate()
        fmas = [(i, b) for i, b in t.lines if i is not None and i.mnemonic == "vfmadd231ps"]
        spills = sum(engine_spills(b, 512) for _, b in fmas)
        borrows = sum(1 for _, b in fmas for line in b if "#32, mul vl]" in line or "#33, mul vl]" in line)
        assert spills == 0, mode
        assert 0 < borrows <= 16, (mode, borrows)          # a save/reload pair per run, not per FMA


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_pressure_kernel_runs_bit_exact(mode):
    g = _Pressure(mode)
    rng = np.random.default_rng(5)
    a = rng.standard_normal(256).astype(np.float32)
    a[[3, 9, 70]] = [np.inf, np.nan, -0.0]
    c = rng.standard_normal(512).astype(np.float32)
    c[[17, 40]] = [np.nan, -np.inf]
    c_sve = c.copy()
    run_function(g, [0, a.copy(), c_sve])
    want = _pressure_reference(a, c)
    finite = np.isfinite(want)
    assert (c_sve.view(np.uint32)[finite] == want.view(np.uint32)[finite]).all()
    if HAVE_NATIVE:
        c_x86 = c.copy()
        run_native(g, [0, a.copy(), c_x86])
        if mode == "exact":
            assert (c_sve.view(np.uint32) == c_x86.view(np.uint32)).all()
        else:
            assert (np.isnan(c_sve) == np.isnan(c_x86)).all()
            assert (c_sve.view(np.uint32)[~np.isnan(c_x86)] == c_x86.view(np.uint32)[~np.isnan(c_x86)]).all()


# ---------------------------------------------------------------------------------------------
# {live:zN}: vzeroupper leaves dead registers alone; displacements fold into the addressing mode

def _body(hexbytes: str, mnemonic: str, **kw) -> list[str]:
    from translator.translate import translate
    t = translate(bytes.fromhex(hexbytes), linear=True, nan_mode="fast", **kw)
    return next(b for i, b in t.lines if i is not None and i.mnemonic == mnemonic)


def test_vzeroupper_zeroes_only_live_registers():
    # vaddps ymm3,ymm2,ymm1; vzeroupper; ret: after ret only xmm0/xmm1 (return values) are live
    body = _body("c5ec58d9" "c5f877" "c3", "vzeroupper")
    assert [l for l in body if not l.startswith(".")] == [
        "ptrue p2.b, vl16", "not p2.b, p0/z, p2.b", "mov z0.b, p2/m, #0", "mov z1.b, p2/m, #0"]


def test_index_and_displacement_fold_into_mul_vl():
    # vmovups zmm5,[rax+rbx*4+0x40]: one add, the displacement rides in the addressing mode
    # (the lowering alone: the peephole pass would move x16 to a pool register)
    body = _body("62f17c48106c9801", "vmovups", peephole=False)
    assert [l for l in body if not l.startswith(".")] == [
        "add x16, x6, x9, lsl #2", "ld1w {z5.s}, p0/z, [x16, #1, mul vl]"]
    # vbroadcastss zmm1,[rax+rcx*8+0x10] -> ld1rw's immediate
    body = _body("62f27d48184cc804", "vbroadcastss", peephole=False)
    assert [l for l in body if not l.startswith(".")] == [
        "add x16, x6, x3, lsl #3", "ld1rw {z1.s}, p0/z, [x16, #16]"]


# ---------------------------------------------------------------------------------------------
# keeps_zero (lower/upper.py): a VEX op whose sources are already zero above 256 needs no zeroing

def test_upper_zero_dataflow_drops_redundant_zeroing():
    from translator.translate import translate
    # vpaddd ymm1,ymm2,ymm3 ; vpaddd ymm4,ymm1,ymm1 ; vpaddd ymm4{k1},ymm1,ymm2 ; vpaddd ymm5,ymm4,[rax] ; ret
    code = bytes.fromhex("c5edfecb" "c5f5fee1" "62f17529fee2" "c5ddfe28" "c3")
    t = translate(code, linear=True)
    bodies = [[l for l in b if not l.startswith(".")] for i, b in t.lines if i is not None]
    assert bodies[0] == ["add z1.s, z2.s, z3.s", "mov z1.b, p8/m, #0"]      # ymm2/3: unknown uppers
    assert bodies[1] == ["add z4.s, z1.s, z1.s"]                            # ymm1 known zero
    assert bodies[2][-1] == "mov z4.b, p8/m, #0"                            # masked: k may reach up
    assert bodies[3] == ["ld1w {z31.s}, p2/z, [x6]", "add z5.s, z4.s, z31.s"]   # p2: ptrue vl32


def test_upper_zero_facts():
    from translator.decode.flow import linear
    from translator.lower.upper import effects, zero_above_in
    code = bytes.fromhex("c5edfecb" "c5f877" "0f58c1" "62f17c48" "58c1" "c3")
    # vpaddd ymm1,.. ; vzeroupper ; addps xmm0,xmm1 (legacy: keeps) ; vaddps zmm0,zmm0,zmm1 ; ret
    p = linear(code, 0)
    order = list(p.insns.values())
    assert effects(order[0].raw)[:3] == (1 << 1, 1 << 1, 0)
    st = zero_above_in(order, lambda i: [i.next_address] if i.next_address in p.insns and i.flow == "next" else [], {0})
    z256, z128 = st[order[2].address]
    assert z128 == 0xFFFF and z256 == 0xFFFF                  # after vzeroupper
    assert st[order[3].address] == (0xFFFF, 0xFFFF)           # legacy SSE keeps the upper bits
    assert st[order[4].address][0] & 1 == 0                  # a zmm write forgets zmm0


def test_verify_refutes_a_wrong_keeps_zero_claim(tmp_path):
    """The verify variant runs states zero above the width: a claim that does not hold (a
    register broadcast fills every lane) is caught."""
    import shutil
    from translator.lower.tables import TABLE_DIR, load_tables
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    for f in TABLE_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "moves.yaml"
    p.write_text(p.read_text().replace("  mnemonics: [vbroadcastss, vpbroadcastd]\n",
                                       "  mnemonics: [vbroadcastss, vpbroadcastd]\n  keeps_zero: yes\n"))
    tables = load_tables(tmp_path)
    forms = enumerate_forms(tables, seed=0, only=r"^vpbroadcastd ymm, xmm$")
    res = Harness(states=64, tables=tables).run_form(next(iter(forms.values())))
    assert res.mismatches > 0


class _Avx2Loop(CodeGenerator):
    """An AVX2 int8-style loop: c[i] += pmaddwd(pmaddubsw(a, b), ones) over n blocks of 8 dwords,
    plus an f32 FMA chain; ymm only, so every result would need its upper half zeroed."""

    def __init__(self):
        super().__init__(strict=False)
        from translator.jit import Label, rcx, ymm0, ymm1, ymm2, ymm3, ymm4, ymm5, ymm6
        loop, done = Label(), Label()
        self.vpcmpeqw(ymm6, ymm6, ymm6)
        self.vpsrlw(ymm6, ymm6, 15)                      # 16-bit ones
        self.vmovups(ymm5, ptr[rdx])
        self.xor_(rcx, rcx)
        self.L(loop)
        self.cmp(rcx, rdi)
        self.jge(done)
        self.vmovdqu(ymm0, ptr[rsi])
        self.vmovdqu(ymm1, ptr[rsi + 32])
        self.vpmaddubsw(ymm2, ymm0, ymm1)
        self.vpmaddwd(ymm3, ymm2, ymm6)
        self.vpaddd(ymm5, ymm5, ymm3)
        self.vcvtdq2ps(ymm4, ymm3)
        self.vfmadd231ps(ymm4, ymm4, ymm4)
        self.vmaxps(ymm4, ymm4, ymm0)
        self.vmovups(ptr[rdx + 32], ymm4)
        self.add(rsi, 64)
        self.inc(rcx)
        self.jmp(loop)
        self.L(done)
        self.vmovups(ptr[rdx], ymm5)
        self.vzeroupper()
        self.ret()


def test_avx2_loop_drops_zeroing_and_runs_bit_exact():
    g = _Avx2Loop()
    t = g.translate()
    zeroing = sum(1 for i, b in t.lines if i is not None for l in b if l.endswith("/m, #0") and l.startswith("mov z"))
    vex_writes = sum(1 for i, b in t.lines if i is not None and i.encoding == "vex" and i.ops
                     and getattr(i.ops[0], "bits", 512) < 512)
    assert zeroing < vex_writes // 2, (zeroing, vex_writes)
    rng = np.random.default_rng(11)
    n = 5
    src = rng.integers(0, 256, 64 * n, dtype=np.uint8)
    c = rng.integers(-1000, 1000, 16, dtype=np.int32)
    c_sve = c.copy()
    run_function(g, [n, src.copy(), c_sve])
    if HAVE_NATIVE:
        c_x86 = c.copy()
        run_native(g, [n, src.copy(), c_x86])
        assert (c_sve == c_x86).all()
    # the integer half against numpy
    a = src.reshape(n, 2, 32)
    u, s = a[:, 0].astype(np.int32), a[:, 1].view(np.int8).astype(np.int32)
    pairs = np.clip(u[:, 0::2] * s[:, 0::2] + u[:, 1::2] * s[:, 1::2], -32768, 32767)
    want = c[:8] + (pairs[:, 0::2] + pairs[:, 1::2]).sum(axis=0).astype(np.int32)
    assert (c_sve[:8] == want).all()
