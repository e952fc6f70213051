"""AVX512-FP16 (mapping_tables/fp16.yaml, translator/verify/x86model/ext9.py).

No executor here runs FP16 (this host lacks it, bochs 2.7 raises #UD), so the x86 side of
verify is the model alone. These tests make that model trustworthy on its own:
- its exact ``Fraction`` arithmetic against numpy float16 (correctly rounded + - * / sqrt under
  round-to-nearest: numpy computes in float32, 24 >= 2*11 + 2 bits, so double rounding is
  innocuous), on random and edge patterns;
- against ``fp.py``'s integer softfloat instantiated for binary16, in all four rounding modes,
  values and MXCSR flags, FMA included;
- hand-picked x86 rules (default NaN 0xFE00, NaN priority, min/max, rounding ties, overflow);
then pin one lowering's SVE text and run a few forms through verify (model vs SVE on unicorn).
"""
from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from translator.verify.x86model import ext9, fp  # noqa: E402

F16 = fp.Fmt(16, 11, 5, np.float16, np.uint16, np.int16)
EDGE = [0x0000, 0x8000, 0x0001, 0x8001, 0x0002, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x7BFF, 0xFBFF,
        0x7C00, 0xFC00, 0x7C01, 0xFD55, 0x7E00, 0xFE00, 0x3C00, 0xBC00, 0x3C01, 0x3BFF, 0x0200,
        0x5640, 0x4000, 0x1400, 0x1000, 0x6800, 0x7800]

try:
    import unicorn  # noqa: F401
    HAVE_ARM = True
except Exception:                                   # pragma: no cover
    HAVE_ARM = False


def _sample(rng, n: int) -> list[int]:
    """Random patterns, edge patterns and normals near 1.0 (so that sums cancel), a third each."""
    a = rng.integers(0, 1 << 16, n)
    e = np.array(EDGE)[rng.integers(0, len(EDGE), n)]
    near = ((rng.integers(-6, 7, n) + 15) << 10) | rng.integers(0, 1024, n) | (rng.integers(0, 2, n) << 15)
    c = rng.integers(0, 3, n)
    return np.where(c == 0, a, np.where(c == 1, e, near)).astype(np.uint16).tolist()


# ---- the model on its own ----------------------------------------------------------------------

def test_model_matches_numpy_float16_round_to_nearest():
    rng = np.random.default_rng(1)
    a, b = _sample(rng, 4000), _sample(rng, 4000)
    fa, fb = np.array(a, np.uint16).view(np.float16), np.array(b, np.uint16).view(np.float16)
    bad = []
    with np.errstate(all="ignore"):
        for op, f in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)):
            want = f(fa, fb).view(np.uint16).tolist()
            for x, y, w in zip(a, b, want):
                got = ext9.h_binary(op, x, y, fp.RN)[0]
                if (ext9.is_nan(got) != ext9.is_nan(w)) or (not ext9.is_nan(w) and got != w):
                    bad.append((op, hex(x), hex(y), hex(got), hex(w)))
        want = np.sqrt(fa).view(np.uint16).tolist()
        for x, w in zip(a, want):
            got = ext9.h_sqrt(x, fp.RN)[0]
            if (ext9.is_nan(got) != ext9.is_nan(w)) or (not ext9.is_nan(w) and got != w):
                bad.append(("sqrt", hex(x), hex(got), hex(w)))
    assert not bad, bad[:10]


@pytest.mark.parametrize("rc", [fp.RN, fp.RD, fp.RU, fp.RZ])
def test_model_matches_integer_softfloat_every_rounding_mode(rc):
    """Values and MXCSR flags against fp.py's x_add/x_sub/x_mul/x_div/x_sqrt/x_fma at binary16."""
    rng = np.random.default_rng(10 + rc)
    env = fp.FpEnv(rc)
    a, b, c = _sample(rng, 1500), _sample(rng, 1500), _sample(rng, 1500)
    bad = []
    for op, xf in (("add", fp.x_add), ("sub", fp.x_sub), ("mul", fp.x_mul), ("div", fp.x_div)):
        for x, y in zip(a, b):
            if ext9.h_binary(op, x, y, rc) != xf(x, y, F16, env):
                bad.append((op, hex(x), hex(y)))
    for x in a:
        if ext9.h_sqrt(x, rc) != fp.x_sqrt(x, F16, env):
            bad.append(("sqrt", hex(x)))
    for neg, sub in itertools.product((False, True), repeat=2):
        for x, y, z in zip(a[:400], b[:400], c[:400]):
            if ext9.h_fma(x, y, z, rc, neg, sub) != fp.x_fma(x, y, z, F16, env, neg_prod=neg, neg_add=sub):
                bad.append(("fma", neg, sub, hex(x), hex(y), hex(z)))
    assert not bad, bad[:10]


def test_model_x86_rules():
    add, mul = (lambda x, y, rc=fp.RN: ext9.h_binary("add", x, y, rc)[0]), \
        (lambda x, y, rc=fp.RN: ext9.h_binary("mul", x, y, rc)[0])
    assert add(0x7C00, 0xFC00) == 0xFE00                  # inf - inf: default NaN, sign set
    assert mul(0x7C00, 0x0000) == 0xFE00
    assert ext9.h_sqrt(0xBC00, fp.RN)[0] == 0xFE00
    assert ext9.h_binary("div", 0, 0x8000, fp.RN)[0] == 0xFE00
    assert add(0x7D01, 0xFE11) == 0x7F01                  # first NaN source, quieted
    assert add(0x3C00, 0xFD01) == 0xFF01
    assert ext9.h_binary("sub", 0x3C00, 0x7D01, fp.RN)[0] == 0x7F01     # no sign flip on a NaN
    assert ext9.h_fma(0x3C00, 0x7D02, 0x7E03, fp.RN, False, False)[0] == 0x7F02
    assert ext9.h_fma(0x7C00, 0x0000, 0x7E03, fp.RN, False, False)[0] == 0x7E03   # NaN beats invalid
    assert add(0x3C00, 0x1000) == 0x3C00                  # 1 + 2^-11: tie to even
    assert add(0x3C01, 0x1000) == 0x3C02
    assert add(0x3C00, 0x1000, fp.RU) == 0x3C01
    assert add(0x7BFF, 0x5000) == 0x7C00                  # overflow: inf (RN), max (RZ)
    assert add(0x7BFF, 0x5000, fp.RZ) == 0x7BFF
    assert add(0x3C00, 0xBC00) == 0x0000 and add(0x3C00, 0xBC00, fp.RD) == 0x8000
    assert mul(0x0001, 0x3800) == 0x0000                  # 2^-25: tie to even (0)
    assert mul(0x0001, 0x3A00) == 0x0001
    # max/min: the second source for NaN (unquieted) or two zeros
    assert ext9.h_maxmin(True, 0x7D00, 0x3C00)[0] == 0x3C00
    assert ext9.h_maxmin(True, 0x3C00, 0x7D00)[0] == 0x7D00
    assert ext9.h_maxmin(False, 0x0000, 0x8000)[0] == 0x8000
    assert ext9.h_maxmin(True, 0xFC00, 0x0001)[0] == 0x0001
    # conversions
    assert ext9.cvt_f32_to_h(0x477FF000, fp.RN, False)[0] == 0x7C00    # 65520 rounds up to inf
    assert ext9.cvt_f32_to_h(0x477FEFFF, fp.RN, False)[0] == 0x7BFF
    assert ext9.cvt_f32_to_h(0x7F800001, fp.RN, False)[0] == 0x7E00    # SNaN quieted, payload cut
    assert ext9.cvt_h_to_f32(0x7D01)[0] == 0x7FE02000
    assert ext9.cvt_h_to_f32(0x0001)[0] == 0x33800000
    assert ext9.cvt_h_to_int(0x3E00, fp.RN, False, 16, True)[0] == 2      # 1.5 -> 2 (even)
    assert ext9.cvt_h_to_int(0x4100, fp.RN, False, 16, True)[0] == 2      # 2.5 -> 2
    assert ext9.cvt_h_to_int(0xBE00, fp.RN, True, 16, True)[0] == 0xFFFF  # -1.5 truncated: -1
    assert ext9.cvt_h_to_int(0x7BFF, fp.RN, False, 16, True)[0] == 0x8000  # 65504: out of i16
    assert ext9.cvt_h_to_int(0xBC00, fp.RN, False, 16, False)[0] == 0xFFFF  # -1 -> u16 indefinite
    assert ext9.cvt_h_to_int(0x7E00, fp.RN, False, 32, True)[0] == 0x80000000
    assert ext9.cvt_int_to_h(65535, fp.RN)[0] == 0x7C00 and ext9.cvt_int_to_h(65535, fp.RZ)[0] == 0x7BFF
    assert ext9.cvt_int_to_h(2049, fp.RN)[0] == 0x6800 and ext9.cvt_int_to_h(2051, fp.RN)[0] == 0x6802


def test_every_mnemonic_is_modelled():
    from translator.lower.tables import default_tables
    from translator.verify.x86model import HANDLERS
    t = default_tables()
    mine = sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith("fp16.yaml"))
    assert {"vaddph", "vfmadd231ph", "vmaxph", "vsqrtph"} <= set(mine)
    assert all(HANDLERS.get(m) is ext9.HANDLERS[m] for m in mine)


# ---- lowering and verify -----------------------------------------------------------------------

def _lower(text: str) -> list[str]:
    from test_x86_model_util import asm
    from translator.decode import decode_one
    from translator.lower import lower_snippet
    return lower_snippet(decode_one(asm(text)), flags_live_out=frozenset(), outline=True).lines


def test_vaddph_zmm_lowering():
    lines = _lower("vaddph zmm1, zmm2, zmm3")
    inline = lines[:lines.index(".Lx1:")]
    assert inline == ["ptrue p0.b", "fadd z1.h, z2.h, z3.h", "fcmuo p1.h, p0/z, z1.h, z1.h",
                      "ptest p0, p1.b", "b.ne .Lx2"]
    slow = lines[lines.index(".Lx2:"):]
    assert "mov z31.h, #0x200" in slow and "fneg z1.h, p1/m, z1.h" in slow


def test_vmaxph_lowering():
    assert _lower("vmaxph zmm1, zmm2, zmm3") == ["ptrue p0.b", "fcmgt p1.h, p0/z, z2.h, z3.h",
                                                 "sel z1.h, p1, z2.h, z3.h"]


VERIFY_FORMS = [
    r"vaddph zmm{k}{z}, zmm, m16bcst", r"vsubph zmm{k}, zmm, zmm, {er}", r"vmulph ymm, ymm, m256",
    r"vdivph zmm{k}, zmm, zmm", r"vmaxph xmm{k}{z}, xmm, xmm", r"vminph zmm, zmm, zmm, {sae}",
    r"vsqrtph zmm{k}, m16bcst", r"vfmadd231ph zmm{k}{z}, zmm, zmm", r"vfnmsub132ph zmm, zmm, zmm, {er}",
    r"vfmsub213ph ymm{k}, ymm, m16bcst",
    r"vaddsh xmm{k}{z}, xmm, m16", r"vdivsh xmm{k}, xmm, xmm, {er}", r"vmaxsh xmm{k}{z}, xmm, xmm, {sae}",
    r"vsqrtsh xmm{k}, xmm, m16", r"vfnmadd213sh xmm{k}{z}, xmm, xmm, {er}", r"vfmsub231sh xmm{k}, xmm, m16",
    r"vcmpph k{k}, zmm, m16bcst, imm8", r"vcmpsh k{k}, xmm, xmm, imm8, {sae}", r"vmovsh xmm{k}, xmm, xmm",
    r"vmovsh xmm{k}{z}, m16", r"vmovw r32, xmm", r"vmovw xmm, m16",
    r"vcvtph2psx zmm{k}{z}, m256", r"vcvtps2phx xmm{k}, xmm", r"vcvtps2phx ymm, zmm, {er}",
    r"vcvtph2w zmm{k}, zmm, {er}", r"vcvttph2uw ymm{k}{z}, m16bcst", r"vcvtuw2ph xmm, xmm",
    r"vcvtph2dq zmm{k}{z}, ymm", r"vcvttph2udq ymm, m16bcst", r"vcvtdq2ph xmm{k}{z}, m128",
    r"vcvtudq2ph ymm, zmm, {er}",
]


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
def test_verify_some_forms():
    from conftest import exact_forms, verify_forms
    bad = verify_forms(exact_forms(VERIFY_FORMS), 24, count=len(VERIFY_FORMS))
    assert not bad, bad


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("shape", ["vcmpph k1{{k2}}, zmm2, zmm3, {i}", "vcmpsh k3, xmm4, word ptr [rax], {i}"])
def test_compare_every_predicate(shape):
    """All 32 predicates (imm8[4:0]) of vcmpph / vcmpsh into k, model vs SVE."""
    from test_x86_model_util import asm
    from translator.decode import decode_one
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    from translator.verify.harness import Harness
    h = Harness(vl=512, states=12, max_failures=1)
    bad = []
    for i in range(32):
        raw = asm(shape.format(i=i))
        insn = decode_one(raw, INSN_ADDRESS)
        f = Form(f"{insn.form} [{i}]", default_tables().entry_for(insn.mnemonic), insn.mnemonic,
                 [Instance(raw, insn)])
        r = h.run_form(f, 12)
        if r.mismatches or r.skipped or not r.states:
            bad.append((i, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad
