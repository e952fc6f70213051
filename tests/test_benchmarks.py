"""The benchmark runner's smoke mode: runs in seconds and reports every section's keys."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke():
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--json", "-"], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    dt = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout), dt


def test_smoke_is_fast(smoke):
    _, dt = smoke
    assert dt < 30, f"--smoke took {dt:.1f} s"


def test_keys(smoke):
    res, _ = smoke
    assert res["mode"] == "smoke"
    for k in ("throughput", "quality", "fujitsu", "forms", "a64fx", "verify", "memory", "goals", "dynamic"):
        assert k in res, k
    tp = res["throughput"]
    assert "kernels" in tp
    for k in ("throughput_ratio", "avx512_a64_per_x86_fast_inline", "avx512_a64_per_x86_exact_inline",
              "fujitsu_rows_worse"):
        assert k in res["goals"]
    assert "states_per_s" in res["verify"]
    assert "maxrss_mib" in res["memory"]
    assert res["a64fx"]["classes"] and all({"class", "latency", "per_cycle"} <= set(c) for c in res["a64fx"]["classes"])
    forms = [r["form"] for r in res["fujitsu"]]
    assert "vaddps zmm,zmm,zmm" in forms and "vpermd zmm,zmm,zmm" in forms
    for r in res["fujitsu"]:
        assert {"fujitsu", "fast", "exact", "worse_than_fujitsu"} <= set(r)


def test_corpus_numbers(smoke):
    res, _ = smoke
    if res["corpus"] is None:
        pytest.skip("corpus not found (../shared/corpus)")
    tp = res["throughput"]
    for k in ("x86_instructions", "insns_per_s", "iced_insns_per_s", "ratio", "warm_insns_per_s"):
        assert tp[k] is not None and tp[k] > 0, k
    q = res["quality"]["avx512"]
    for mode in ("exact", "fast"):
        d = q[mode]
        assert {"a64_per_x86", "a64_inline_per_x86", "translated", "a64fx_cycles"} <= set(d)
        assert d["arm_inline_instructions"] <= d["arm_instructions"]
    assert res["forms"] and {"form", "count", "exact_inline_per_x86", "fast_inline_per_x86"} <= set(res["forms"][0])
    assert res["memory"]["tracemalloc_peak_mib"] > 0


def test_fujitsu_counts():
    """The per-form rows: vaddps zmm, zmm, zmm in fast mode is one fadd."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import quality
    rows = {r["form"]: r for r in quality.fujitsu_table()}
    assert rows["vaddps zmm,zmm,zmm"]["fast"] == 1
    assert quality.count_insns(["fadd z1.s, z2.s, z3.s", ".Lx1:", "b .Lx1"]) == 2
    assert quality.address_lines(["add x16, x6, x9, lsl #2", "ld1w {z31.s}, p0/z, [x16]"]) == 1


def test_a64fx_classes():
    sys.path.insert(0, str(ROOT))
    from benchmarks import a64fx
    assert a64fx.classify("fmla z1.s, p0/m, z2.s, z3.s") == "sve_fp_arith"
    assert a64fx.classify("ld1w {z1.s}, p0/z, [x1, z2.s, sxtw #2]") == "sve_gather"
    assert a64fx.classify("fcmuo p1.s, p0/z, z1.s, z1.s") == "sve_fp_cmp"
    c = a64fx.classify_lines(["fadd z1.s, z2.s, z3.s"] * 8)
    assert a64fx.estimate(c) == pytest.approx(4.0)


def test_dynamic_counts(smoke):
    """Executed instructions of real kernels under qemu: the fused int8 1x1 convolution runs
    fewer A64 instructions per x86 instruction than the per-instruction lowering would."""
    res, _ = smoke
    dy = res["dynamic"]
    if dy.get("skipped"):
        pytest.skip(dy["skipped"])
    row = dy["kernels"]["conv_int8_1x1_w7"]
    for mode in ("fast", "exact"):
        assert row[mode]["x86"] > 10_000 and row[mode]["a64_slow"] == 0     # 7-bit weights: fast paths
        assert 1.0 < row[mode]["a64_per_x86"] < 2.0
    assert dy["fast"]["a64_per_x86"] <= dy["exact"]["a64_per_x86"]


def test_line_offsets_size_code_and_data_like_gnu_as():
    sys.path.insert(0, str(ROOT))
    from benchmarks.dynamic import line_offsets
    lines = [".text", ".globl kernel", "kernel:", "stp x29, x30, [sp, #-16]!", ".L_1:", "// note",
             ".byte 0x01, 0x02, 0x03", ".balign 4", "ret", ".word 1, 2", "nop"]
    assert line_offsets(lines) == [None, None, None, 0, None, None, None, None, 8, None, 20]
