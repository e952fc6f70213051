"""AVX512-BF16 arithmetic (mapping_tables/bf16.yaml, translator/verify/x86model/ext8.py):
vdpbf16ps and vcvtne2ps2bf16.

- the model on hand-picked values whose results this host's CPU gave (operation order, fused
  product, FTZ with tininess after rounding, NaN priority), and against the CPU on states built to
  hit those cases (tiny results next to 2^-126, NaN-heavy lanes, cancellations);
- the translation (unicorn) against the model on the same states: the scaled tiny-result path
  and the NaN path of the lowering run, not only the fast path;
- the lowering text of the main forms, and one verify run of every form the entries claim.
"""
from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_lower_ext import HAVE_ARM, HAVE_NATIVE, _native_compare, check_form  # noqa: E402
from test_x86_model_util import HAVE_AS, asm, rand_state  # noqa: E402
from translator.decode import decode_one  # noqa: E402
from translator.lower import lower_snippet  # noqa: E402
from translator.oracles.native import cpu_flags  # noqa: E402
from translator.verify.x86model.ext8 import dpbf16  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_BF16 = HAVE_NATIVE and "avx512_bf16" in cpu_flags()


def f2u(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bf(x: float) -> int:
    u = f2u(x)
    assert u & 0xFFFF == 0, x
    return u >> 16


def pair(hi: float, lo: float) -> int:
    return bf(hi) << 16 | bf(lo)


# (name, acc, src1 pair, src2 pair, result on this host's CPU)
DP_CASES = [
    ("high pair first", f2u(2.0 ** 24), pair(1.0, 2.0 ** 24), pair(1.0, -1.0), 0x00000000),
    ("product not rounded", f2u(-3.4028234663852886e38), pair(2.0 ** 64, 0.0), pair(2.0 ** 64, 0.0), 0x73800000),
    ("tiny before, not after rounding", f2u(2.0 ** -126), pair(0.0, 2.0 ** -80), pair(0.0, -2.0 ** -80), 0x00800000),
    ("tiny after rounding", f2u(2.0 ** -126), pair(0.0, 1.5 * 2.0 ** -75), pair(0.0, -2.0 ** -76), 0x00000000),
    ("tiny after rounding, negative", f2u(-2.0 ** -126), pair(0.0, 1.5 * 2.0 ** -75), pair(0.0, 2.0 ** -76), 0x80000000),
    ("rounds up to 2^-126", f2u(2.0 ** -126), pair(0.0, 2.0 ** -75), pair(0.0, -2.0 ** -76), 0x00800000),
    ("first step 2^-126", f2u(2.0 ** -126), pair(2.0 ** -80, 0.0), pair(-2.0 ** -80, 0.0), 0x00800000),
    ("flushed result", f2u(2.0 ** -125), pair(0.0, 1.5 * 2.0 ** -63), pair(0.0, -2.0 ** -63), 0x00000000),
    ("-0 + -0", f2u(-0.0), pair(-0.0, -0.0), pair(0.0, 0.0), 0x80000000),
    ("tiny flush keeps sign, +0 product", f2u(-0.0), pair(2.0 ** -100, 0.0), pair(-2.0 ** -100, 0.0), 0x00000000),
    ("denormal acc is zero", 0x80035AAE, pair(0.0, 0.0), pair(0.0, 0.0), 0x00000000),
    ("src1.lo NaN first", 0x00000000, 0x001D7FB9, 0x49837FE4, 0x7FF90000),
    ("src1 NaN before src2 NaN", 0x80035AAE, 0x7F83474A, 0x7FDD3795, 0x7FC30000),
    ("src2.lo NaN before step-1 NaN", 0x39B94C39, 0xC301B57C, 0xFFA9FFF6, 0xFFF60000),
    ("src1.hi NaN before src2.hi", 0xB282343F, 0x7F84397C, 0x3411FF88, 0xFFC80000),
    ("acc NaN after the halves", 0x7FA8EDE3, 0x47A3FFC4, 0x49660016, 0xFFC40000),
    ("inf * 0", f2u(1.0), pair(float("inf"), 0.0), pair(0.0, 0.0), 0xFFC00000),
    ("inf * 0 with qNaN acc", 0x7FC12345, pair(float("inf"), 0.0), pair(0.0, 0.0), 0x7FC12345),
]


def test_model_cases():
    acc = np.array([c[1] for c in DP_CASES], dtype=np.uint32)
    a = np.array([c[2] for c in DP_CASES], dtype=np.uint32)
    b = np.array([c[3] for c in DP_CASES], dtype=np.uint32)
    got = dpbf16(acc, a, b)
    for c, g in zip(DP_CASES, got):
        assert int(g) == c[4], f"{c[0]}: model {int(g):#010x}, CPU {c[4]:#010x}"


def _bf16(rng: np.random.Generator, n: int, emin: int, emax: int) -> np.ndarray:
    s, e, m = rng.integers(0, 2, n), rng.integers(emin, emax + 1, n), rng.integers(0, 128, n)
    return (s << 15 | e << 7 | m).astype(np.uint32)


def dp_lanes(rng: np.random.Generator, n: int, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(acc, src1, src2) lanes. kind 0: accumulators within a few ulps of +-2^-126 and tiny
    products on one or both pairs (results at the FTZ threshold); 1: the hand-picked cases;
    2: NaN / inf / zero / denormal-heavy halves."""
    if kind == 1:
        k = rng.integers(0, len(DP_CASES), n)
        return (np.array([DP_CASES[i][1] for i in k], dtype=np.uint32),
                np.array([DP_CASES[i][2] for i in k], dtype=np.uint32),
                np.array([DP_CASES[i][3] for i in k], dtype=np.uint32))
    if kind == 2:
        pick = np.array([0x7F81, 0xFFC0, 0x7FC1, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x0041, 0x3F80, 0xBF80, 0x7F7F])
        def half():
            return np.where(rng.integers(0, 2, n) == 0, pick[rng.integers(0, len(pick), n)],
                            _bf16(rng, n, 120, 135)).astype(np.uint32)
        accp = np.array([0x7FA00001, 0xFFC00000, 0x7F800000, 0xFF800000, 0, 0x80000000, 0x00000001, 0x3F800000],
                        dtype=np.uint32)
        return accp[rng.integers(0, len(accp), n)], half() << 16 | half(), half() << 16 | half()
    ea = rng.integers(30, 80, (4, n))
    eb = np.clip(rng.integers(85, 120, (4, n)) - ea, 1, 254)
    s, m = rng.integers(0, 2, (8, n)), rng.integers(0, 128, (8, n))
    h = [(s[i] << 15 | e[j] << 7 | m[i]).astype(np.uint32)
         for i, (e, j) in enumerate([(ea, 0), (eb, 0), (ea, 1), (eb, 1)])]
    zero_hi = rng.integers(0, 3, n) == 0
    zero_lo = rng.integers(0, 3, n) == 0
    a = np.where(zero_hi, 0, h[0]) << 16 | np.where(zero_lo, 0, h[2])
    b = h[1] << 16 | h[3]
    k = rng.integers(-3, 4, n)
    acc = (0x00800000 + np.abs(k) + (rng.integers(0, 4, n) == 0) * (1 << 23)) | (rng.integers(0, 2, n) << 31)
    return acc.astype(np.uint32), a.astype(np.uint32), b.astype(np.uint32)


def dp_state(rng: random.Random, j: int, dst: int, s1: int, s2: int):
    """A random state whose dst/src1/src2 registers (and memory) hold edge lanes of kind j % 3."""
    s = rand_state(rng, mxcsr_random=False)
    s.mxcsr = 0x1F80 | rng.getrandbits(2) << 13          # vdpbf16ps ignores MXCSR.RC
    g = np.random.default_rng(rng.getrandbits(32))
    acc, a, b = dp_lanes(g, 16, j % 3)
    s.zmm[dst], s.zmm[s1], s.zmm[s2] = acc.tobytes(), a.tobytes(), b.tobytes()
    mem = np.concatenate([dp_lanes(g, 16, j % 3)[2] for _ in range(64)])
    s.mem = mem.tobytes()
    return s


DP_FORMS = [
    ("vdpbf16ps zmm1, zmm2, zmm3", (1, 2, 3)),
    ("vdpbf16ps zmm1{k1}, zmm2, zmm3", (1, 2, 3)),
    ("vdpbf16ps zmm1{k1}{z}, zmm2, zmmword ptr [rax]", (1, 2, 3)),
    ("vdpbf16ps zmm1, zmm2, dword ptr [rax]{1to16}", (1, 2, 3)),
    ("vdpbf16ps ymm1{k1}, ymm2, ymm3", (1, 2, 3)),
    ("vdpbf16ps xmm1{k1}{z}, xmm2, xmm3", (1, 2, 3)),
]


@pytest.mark.skipif(not (HAVE_BF16 and HAVE_AS), reason="needs a host with avx512_bf16 and GNU as")
@pytest.mark.parametrize("form,regs", DP_FORMS)
def test_dp_model_native_edges(form, regs, native_runner):
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()))
    states = [dp_state(rng, j, *regs) for j in range(60)]
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}")


@pytest.mark.skipif(not (HAVE_ARM and HAVE_AS), reason="needs unicorn and GNU as")
@pytest.mark.parametrize("form,regs", DP_FORMS)
def test_dp_translation_edges(form, regs):
    rng = random.Random(zlib.crc32(form.encode()) ^ 1)
    states = [dp_state(rng, j, *regs) for j in range(60)]
    errs = check_form(form, states=states)
    assert not errs, "\n".join(errs[:3])


def test_dp_translation_hits_slow_paths():
    """The edge states do take the scaled tiny-result fix (x86 result +-2^-126 where fmla gave
    +-0, in both steps) and the NaN fix: count such lanes on the model's side."""
    g = np.random.default_rng(7)
    acc, a, b = dp_lanes(g, 4096, 0)
    r = dpbf16(acc, a, b)
    hi_only = (a & 0xFFFF) == 0
    assert ((r & 0x7FFFFFFF) == 0x00800000)[hi_only].sum() > 50      # fix in step 1
    lo_only = (a >> 16) == 0
    assert ((r & 0x7FFFFFFF) == 0x00800000)[lo_only].sum() > 50      # fix in step 2
    acc, a, b = dp_lanes(g, 4096, 2)
    assert ((dpbf16(acc, a, b) & 0x7FFFFFFF) > 0x7F800000).sum() > 1000


CVT2_FORMS = [
    "vcvtne2ps2bf16 zmm1, zmm2, zmm3",
    "vcvtne2ps2bf16 zmm1{k1}{z}, zmm2, zmmword ptr [rax]",
    "vcvtne2ps2bf16 ymm1{k1}, ymm2, ymm3",
    "vcvtne2ps2bf16 xmm1{k1}{z}, xmm1, dword ptr [rax]{1to4}",
]


@pytest.mark.skipif(not (HAVE_BF16 and HAVE_AS), reason="needs a host with avx512_bf16 and GNU as")
@pytest.mark.parametrize("form", CVT2_FORMS)
def test_cvt2_model_native(form, native_runner):
    from test_lower_fp_more2 import edge_state
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()))
    states = [edge_state(rng, j) for j in range(40)]
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}")


def _lower(text: str) -> list[str]:
    return lower_snippet(decode_one(asm(text))).lines


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_dp_lowering_zmm():
    lines = _lower("vdpbf16ps zmm1, zmm2, zmm3")
    body = [l for l in lines if not l.startswith("ptrue")]
    # fast path: FPCR set (4), step 1 (6 + 3 to the fix test), step 2 (4 + 3), NaN test (3),
    # FPCR restore, result
    assert body[:10] == [
        "mrs x16, fpcr", "and x17, x16, #0xffffffffff3fffff", "orr x17, x17, #0x1000000",
        "msr fpcr, x17", "lsr z31.s, z2.s, #16", "lsl z31.s, z31.s, #16", "lsr z30.s, z3.s, #16",
        "lsl z30.s, z30.s, #16", "movprfx z29, z1", "fmla z29.s, p0/m, z31.s, z30.s"]
    assert body[-2:] == ["msr fpcr, x16", "mov z1.d, z27.d"]
    insns = [l for l in body if not l.endswith(":")]
    assert len(insns) == 62
    skipped = 9 + 9 + 20           # the two tiny-result fixes and the NaN fix, each behind a b.eq
    assert len(insns) - skipped == 24
    assert insns.count("b.eq .Lx1") == 1 and "cmpne p2.s, p1/z, z1.s, #0" in insns


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_cvt2_lowering_ymm_splices():
    """Part width: both sources spliced into one vector, converted once (16 s lanes), packed."""
    lines = _lower("vcvtne2ps2bf16 ymm1{k1}, ymm2, ymm3")
    assert lines[3:6] == ["mov z31.d, z3.d", "ptrue p3.s, vl8", "splice z31.s, p3, z31.s, z2.s"]
    assert lines[-3:] == ["uzp1 z28.h, z28.h, z28.h", "mov z1.h, p1/m, z28.h", "mov z1.b, p8/m, #0"]
    assert len(lines) == 25
    full = _lower("vcvtne2ps2bf16 zmm1, zmm2, zmm3")
    assert "uzp1 z28.h, z27.h, z28.h" in full and len(full) == 38


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
def test_verify_all_forms():
    """Every form of both entries (54): verify's own run, model vs unicorn, 0 mismatches."""
    r = subprocess.run([sys.executable, "-m", "translator", "verify", "--only",
                        "^(vdpbf16ps|vcvtne2ps2bf16) ", "--states", "12", "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = json.loads(r.stdout)
    assert out["forms"] == 54 and out["mismatches"] == 0 and not out["skipped"], out["failures"][:2]
    assert r.returncode == 0
