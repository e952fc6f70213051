"""The peephole passes across x86 instruction boundaries (translator/lower/peephole.py) and their
translation validation (translator/verify/peephole_check.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from translator import translate
from translator.lower import peephole as pp
from translator.lower.peephole import drop_recomputations, effects, registers, reuse_addresses

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "onednn-avx512-core"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")


def test_registers_fold_views_and_skip_immediates_and_labels():
    assert registers("{z0.s}, p0/z, [x8, #0x10]") == ("z0", "p0", "x8")
    assert registers("w16, w13, #0x1f") == ("x16", "x13")
    assert registers("x6, .Lx12") == ("x6",)
    assert registers("q3, [sp, #16]") == ("z3", "sp")
    assert registers("x0, xzr") == ("x0",)


def test_effects_of_common_lines():
    e = effects("add x16, x8, #256", 0)
    assert (e.writes, e.reads, e.droppable, e.mem_read) == ({"x16"}, {"x8"}, True, False)
    e = effects("fmla z0.s, p0/m, z1.s, z2.s", 0)
    assert e.writes == {"z0"} and not e.droppable
    e = effects("ld1rw {z31.s}, p0/z, [x25, #4]", 0)
    assert e.writes == {"z31"} and e.mem_read and e.droppable
    e = effects("st1w {z0.s}, p0, [x16]", 0)
    assert e.writes == frozenset() and e.mem_write
    assert effects("str x10, [x15, #-8]!", 0).writes == {"x15"}
    # merging under a predicate that is not all-true reads the destination: never dropped
    e = effects("mov z0.b, p1/m, #0", 0)
    assert "z0" in e.reads and not e.droppable
    assert effects("sxtb z27.h, p0/m, z31.h", 0).droppable          # p0 all-true
    assert not effects("sxtb z27.h, p0/m, z31.h", 3).droppable
    assert not effects("add z0.s, z0.s, #1", 0).droppable             # reads its destination
    assert not effects("subs x6, x6, #1", 0).droppable                # sets NZCV
    assert not effects("mov v0.s[1], w1", 0).droppable                # writes one element
    for barrier in (".Lx3:", "b.ne .Lx3", "ret", "ldaddal w1, w2, [x3]", "ld2w {z0.s, z1.s}, p0/z, [x0]",
                    "msr fpcr, x16", "bl .Lx9"):
        assert effects(barrier, 0).barrier, barrier
    assert effects("cmp x6, x7", 0).writes == frozenset()
    assert effects("prfm pldl1keep, [x7, #1024]", 0) == pp.NOTHING


def test_address_reuse_folds_later_displacements_into_a_pool_register():
    bodies = [["add x16, x8, #256", "ld1rw {z0.s}, p0/z, [x16]", "fmla z27.s, p0/m, z7.s, z0.s"],
              ["fmla z26.s, p0/m, z6.s, z0.s"],
              ["add x16, x8, #260", "ld1rw {z0.s}, p0/z, [x16]", "fmla z27.s, p0/m, z7.s, z0.s"],
              ["add x16, x7, #512", "ld1w {z7.s}, p0/z, [x16]"],
              ["add x16, x7, #576", "ld1w {z6.s}, p0/z, [x16]"],
              ["add x16, x8, #2, lsl #12", "add x16, x16, #8", "ld1rw {z0.s}, p0/z, [x16]"],
              ["add x16, x8, #2, lsl #12", "add x16, x16, #16", "ld1rw {z0.s}, p0/z, [x16]"]]
    removed = reuse_addresses(bodies, [True] + [False] * 6, 512)
    assert bodies == [["add x25, x8, #256", "ld1rw {z0.s}, p0/z, [x25]", "fmla z27.s, p0/m, z7.s, z0.s"],
                      ["fmla z26.s, p0/m, z6.s, z0.s"],
                      ["ld1rw {z0.s}, p0/z, [x25, #4]", "fmla z27.s, p0/m, z7.s, z0.s"],
                      ["add x26, x7, #512", "ld1w {z7.s}, p0/z, [x26]"],
                      ["ld1w {z6.s}, p0/z, [x26, #1, mul vl]"],
                      ["add x24, x8, #2, lsl #12", "add x24, x24, #8", "ld1rw {z0.s}, p0/z, [x24]"],
                      ["ld1rw {z0.s}, p0/z, [x24, #8]"]]
    assert removed == 1 + 1 + 2


def test_address_reuse_stops_at_a_write_of_the_base_or_a_stretch_start():
    bodies = [["add x16, x8, #256", "ld1rw {z0.s}, p0/z, [x16]"],
              ["add x8, x8, #64"],
              ["add x16, x8, #260", "ld1rw {z0.s}, p0/z, [x16]"],
              ["add x16, x8, #264", "ld1rw {z0.s}, p0/z, [x16]"]]
    reuse_addresses(bodies, [True, False, False, True], 512)
    assert bodies[2] == ["add x25, x8, #260", "ld1rw {z0.s}, p0/z, [x25]"]     # fresh: x8 moved
    assert bodies[3][0].startswith("add x")                                   # label before it


def test_address_reuse_needs_an_encodable_immediate():
    # ld1rw reaches 0..252: 256 bytes on from x25 it needs a new register
    bodies = [["add x16, x8, #256", "ld1rw {z0.s}, p0/z, [x16]"],
              ["add x16, x8, #512", "ld1rw {z0.s}, p0/z, [x16]"]]
    assert reuse_addresses(bodies, [True, False], 512) == 0
    assert bodies[1] == ["add x26, x8, #512", "ld1rw {z0.s}, p0/z, [x26]"]


def test_mul_vl_units_follow_the_element_and_memory_sizes():
    assert pp._mul_vl_unit("ld1w {z0.s}, p0/z, [x16]", 64) == 64
    assert pp._mul_vl_unit("ld1b {z0.s}, p0/z, [x16]", 64) == 16
    assert pp._mul_vl_unit("ld1sh {z0.d}, p0/z, [x16]", 64) == 16
    assert pp._mul_vl_unit("ldr z3, [x16]", 64) == 64
    assert pp._mul_vl_unit("ldr p3, [x16]", 64) is None
    assert pp._mul_vl_unit("ld1rw {z0.s}, p0/z, [x16]", 64) is None
    # ld1b {z.s} at +32 bytes is #2, mul vl (16 bytes each)
    assert pp._rebase("ld1b {z1.s}, p0/z, [x16]", "x16", "x25", 32, 64) == "ld1b {z1.s}, p0/z, [x25, #2, mul vl]"
    assert pp._rebase("ld1b {z1.s}, p0/z, [x16]", "x16", "x25", 8, 64) is None


def test_recomputations_of_the_same_value_are_dropped():
    body = ["sxtb z26.h, p0/m, z31.h", "asr z25.h, z31.h, #8", "lsr z27.h, z21.h, #8",
            "uxtb z28.h, p0/m, z21.h", "mul z28.h, p0/m, z28.h, z26.h"]
    again = ["sxtb z26.h, p0/m, z31.h", "asr z25.h, z31.h, #8", "lsr z27.h, z22.h, #8",
             "uxtb z28.h, p0/m, z22.h", "mul z28.h, p0/m, z28.h, z26.h"]
    bodies = [list(body), list(again)]
    assert drop_recomputations(bodies, [True, False], 0) == 2
    assert bodies[1] == again[2:]


def test_recomputation_is_kept_after_its_source_or_memory_changes():
    bodies = [["sxtb z26.h, p0/m, z31.h", "ld1rw {z0.s}, p0/z, [x8]"],
              ["ld1w {z31.s}, p0/z, [x11]", "st1w {z5.s}, p0, [x9]"],
              ["sxtb z26.h, p0/m, z31.h", "ld1rw {z0.s}, p0/z, [x8]"]]
    assert drop_recomputations(bodies, [True, False, False], 0) == 0
    bodies = [["ld1rw {z0.s}, p0/z, [x8]"], ["fmla z1.s, p0/m, z2.s, z0.s"], ["ld1rw {z0.s}, p0/z, [x8]"]]
    assert drop_recomputations(bodies, [True, False, False], 0) == 1
    assert drop_recomputations([["mov x16, #5"], [".Lx1:"], ["mov x16, #5"]], [True, False, False], 0) == 0
    # never the partner of a movprfx
    bodies = [["lsr z1.h, z2.h, #8"], ["movprfx z3, z4", "lsr z1.h, z2.h, #8"]]
    assert drop_recomputations(bodies, [True, False], 0) == 0


@needs_corpus
def test_temporaries_are_dead_at_instruction_boundaries():
    """What renaming an address temporary relies on: no lowering reads x16/x17/x19..x26 before
    writing it."""
    temps = {"x16", "x17"} | {f"x{i}" for i in range(19, 27)}
    for name in ("dnnl_dump_cpu_jit_brgemm_kernel_t.0.bin",
                 "dnnl_dump_cpu__jit_avx512_core_x8s8s32x_conv_fwd_ker_t.24.bin",
                 "dnnl_dump_cpu_jit_uni_reorder_kernel_f32.52.bin"):
        t = translate((CORPUS / name).read_bytes(), peephole=False, nan_mode="fast")
        for insn, lines in t.lines:
            if insn is None:
                continue
            written = set()
            for l in lines:
                e = effects(l, 0)
                if e.barrier:
                    break
                assert not ((e.reads - written) & temps), (insn.text, l)
                written |= e.writes


@needs_corpus
@pytest.mark.parametrize("name", ["dnnl_dump_cpu_jit_brgemm_kernel_t.0.bin",
                                  "dnnl_dump_cpu__jit_avx512_common_conv_fwd_kernel.10.bin",
                                  "dnnl_dump_cpu__jit_avx512_core_x8s8s32x_conv_fwd_ker_t.24.bin"])
@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_passes_keep_every_segment_bit_exact(name, mode):
    from translator.verify.peephole_check import check
    r = check((CORPUS / name).read_bytes(), states=4, nan_mode=mode)
    assert r.segments >= 1 and r.ran >= r.segments // 2, r
    assert r.mismatches == []


@needs_corpus
def test_the_check_catches_a_wrong_pass(monkeypatch):
    """A pass that also drops every other fmla is caught."""
    import sys
    from translator.verify.peephole_check import check
    tr = sys.modules["translator.translate"]
    real = tr.optimize
    tr.clear_caches()              # no whole-kernel cache hit from an earlier test

    def broken(bodies, starts, vl, p_all, detours=None):
        out = real(bodies, starts, vl, p_all, detours)
        for b in bodies[::2]:
            b[:] = [l for l in b if not l.startswith("fmla")]
        return out
    monkeypatch.setattr(tr, "optimize", broken)
    r = check((CORPUS / "dnnl_dump_cpu_jit_brgemm_kernel_t.0.bin").read_bytes(), states=2, nan_mode="fast")
    tr.clear_caches()
    assert r.mismatches and "differs" in r.mismatches[0]


@needs_corpus
def test_passes_shrink_brgemm():
    code = (CORPUS / "dnnl_dump_cpu_jit_brgemm_kernel_t.0.bin").read_bytes()
    off = translate(code, peephole=False, nan_mode="fast").stats["arm_instructions"]
    on = translate(code, nan_mode="fast").stats["arm_instructions"]
    assert on < off * 0.95, (on, off)


def test_address_reuse_of_base_plus_index():
    bodies = [["add x16, x13, x10", "sub x16, x16, #512", "ld1rw {z27.s}, p0/z, [x16]"],
              ["add x16, x13, x10", "sub x16, x16, #448", "ld1rw {z27.s}, p0/z, [x16]"],
              ["add x16, x13, x10, lsl #1", "ld1rw {z27.s}, p0/z, [x16]"],     # another index scale
              ["add x10, x10, #4"],
              ["add x16, x13, x10", "sub x16, x16, #444", "ld1rw {z27.s}, p0/z, [x16]"]]
    assert reuse_addresses(bodies, [True] + [False] * 4, 512) == 2
    assert bodies[0] == ["add x25, x13, x10", "sub x25, x25, #512", "ld1rw {z27.s}, p0/z, [x25]"]
    assert bodies[1] == ["ld1rw {z27.s}, p0/z, [x25, #64]"]
    assert bodies[2] == ["add x26, x13, x10, lsl #1", "ld1rw {z27.s}, p0/z, [x26]"]
    assert bodies[4][0] == "add x25, x13, x10"              # x10 moved: computed afresh


def test_a_far_address_is_one_or_two_adds_from_a_cached_one():
    bodies = [["add x16, x1, x4", "add x16, x16, #1, lsl #12", "add x16, x16, #2176", "ld1rw {z31.s}, p0/z, [x16]"],
              ["add x16, x1, x4", "add x16, x16, #3, lsl #12", "add x16, x16, #256", "ld1rw {z31.s}, p0/z, [x16]"],
              ["add x16, x1, x4", "add x16, x16, #3, lsl #12", "add x16, x16, #512", "ld1rw {z31.s}, p0/z, [x16]"]]
    assert reuse_addresses(bodies, [True, False, False], 512) == 1 + 2
    assert bodies[1] == ["add x26, x25, #1, lsl #12", "add x26, x26, #2176", "ld1rw {z31.s}, p0/z, [x26]"]
    assert bodies[2] == ["add x24, x26, #256", "ld1rw {z31.s}, p0/z, [x24]"]
    assert pp._add_lines("x25", "x26", -8) == ["sub x25, x26, #8"]
    assert pp._add_lines("x25", "x26", 1 << 24) == []


@needs_corpus
def test_the_check_runs_the_slow_paths_it_sees_through(monkeypatch):
    """Exact mode: a segment through a NaN fix-up (a detour) runs with that slow path appended
    and NaN-rich states take it: a broken slow path on one side is caught."""
    from translator.verify import peephole_check as pc
    real = pc.segment_pairs

    def broken(code, **kw):
        out = []
        for before, after, ignore in real(code, **kw):
            if "b .Lx2sve_check_end" in after:
                k = after.index("b .Lx2sve_check_end")
                after = after[:k] + [l.replace("orr z", "eor z") for l in after[k:]]
            out.append((before, after, ignore))
        return out
    monkeypatch.setattr(pc, "segment_pairs", broken)
    r = pc.check((CORPUS / "dnnl_dump_cpu__jit_avx512_common_conv_fwd_kernel.10.bin").read_bytes(),
                 states=6, nan_mode="exact")
    assert r.mismatches, r


def test_detours_are_slow_paths_the_passes_understand():
    outlined = [".Lx5:", "fneg z3.s, p1/m, z3.s", "fcmuo p2.s, p1/z, z0.s, z0.s", "mov z3.s, p2/m, z0.s",
                "b .Lx4", ".Lx7:", "bl .Lhelper", "b .Lx6"]
    d = pp.detours_of(outlined, 0)
    assert set(d) == {".Lx5"}                     # .Lx7 calls out: not a detour
    assert d[".Lx5"].ret == ".Lx4" and d[".Lx5"].writes == {"z3", "p2"}
    # a fact survives the detour unless the slow path writes its register
    bodies = [["sxtb z26.h, p0/m, z31.h", "ld1rw {z3.s}, p0/z, [x8]", "b.ne .Lx5", ".Lx4:"],
              ["sxtb z26.h, p0/m, z31.h", "ld1rw {z3.s}, p0/z, [x8]"]]
    assert drop_recomputations(bodies, [True, False], 0, d) == 1
    assert bodies[1] == ["ld1rw {z3.s}, p0/z, [x8]"]


@pytest.mark.parametrize("L, T", [(a, b) for a in "bhsd" for b in "bhsd" if a != b])
def test_mask_layout_conversions_move_every_bit(L, T):
    """engine.convert_layout, with the spare it gets for two or more steps (spreads run never
    in place then, so a repeat is a pure recomputation): mask bit i of layout L ends at bit i
    of layout T, on random masks, in unicorn."""
    import random
    from translator.encode import assemble
    from translator.lower.engine import convert_layout
    from translator.lower.regmap import LAYOUT_BYTES
    from translator.verify.arm_exec import ArmRunner
    vl, runner, rng = 512, ArmRunner(512), random.Random(7)
    spare = "p4" if abs("bhsd".index(L) - "bhsd".index(T)) > 1 else None
    code = assemble(convert_layout("p1", L, T, "p2", spare))
    el, et = LAYOUT_BYTES[L], LAYOUT_BYTES[T]
    n = min(vl // 8 // el, vl // 8 // et)
    for _ in range(20):
        bits = rng.getrandbits(n)
        st = runner.new_state()
        v = sum(1 << (i * el) for i in range(n) if bits >> i & 1)
        st.p = list(st.p)
        st.p[1] = v.to_bytes(vl // 64, "little")
        out = int.from_bytes(runner.run(code, st).p[2], "little")
        assert out == sum(1 << (i * et) for i in range(n) if bits >> i & 1), (L, T, hex(bits))
