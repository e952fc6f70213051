"""vrangeps/pd/ss/sd and vreduceps/pd/ss/sd (mapping_tables/fp_range.yaml) and vrndscaleps/pd with a non-zero
scale (fp_more.yaml, convert_pd.yaml; model translator/verify/x86model/fp_range.py).

The model of vrndscale with a scale is checked against float64 arithmetic here and against this
host's CPU for every imm8 class; the lowerings are pinned for the main forms and run through verify
(x86 model vs SVE on unicorn) for every rounding mode, every scale M and every range op and sign
control.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from translator.verify.x86model import ext6, fp, fp_range  # noqa: E402

try:
    import unicorn  # noqa: F401
    HAVE_ARM = True
except Exception:                                   # pragma: no cover
    HAVE_ARM = False

try:
    from translator.oracles import native as _native
    HAVE_NATIVE = _native.available() and _native.has_avx512()
except Exception:                                   # pragma: no cover
    HAVE_NATIVE = False

RN, RD, RU, RZ = fp.RN, fp.RD, fp.RU, fp.RZ
ENV = fp.FpEnv(RN, False, False, False)


def _f32(rng, n):
    """f32 patterns over every exponent (denormals included), both signs."""
    return rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)


# ---- the model on its own ----------------------------------------------------------------------

@pytest.mark.parametrize("imm,fn", [(0, np.rint), (1, np.floor), (2, np.ceil), (3, np.trunc)])
def test_rndscale_with_scale_matches_float64(imm, fn):
    """f32: 2**-M * round(2**M x) is exact in float64 (24 + 15 bits), and fits f32 again."""
    rng = np.random.default_rng(1)
    x = _f32(rng, 4000)
    x = x[(x & 0x7F800000) != 0x7F800000]
    for M in (1, 4, 9, 15):
        want = (fn(x.view(np.float32).astype(np.float64) * 2.0 ** M) / 2.0 ** M).astype(np.float32)
        for b, w in zip(x.tolist(), want.view(np.uint32).tolist()):
            r, _ = fp_range.x_rndscale(b, (M << 4) | imm, fp.F32, ENV)
            assert r == w, (hex(b), M, imm, hex(r), hex(w))


def test_rndscale_specials():
    F = fp.F64
    assert fp_range.x_rndscale(0xFFF4000000000001, 0x31, F, ENV) == (0xFFFC000000000001, fp.IE)
    assert fp_range.x_rndscale(0xFFF0000000000000, 0xF0, F, ENV) == (0xFFF0000000000000, 0)
    # -0.3 with M = 1 truncates to -0 (sign kept), PE unless imm8[3]; to nearest: -0.5
    assert fp_range.x_rndscale(0xBFD3333333333333, 0x13, F, ENV) == (0x8000000000000000, fp.PE)
    assert fp_range.x_rndscale(0xBFD3333333333333, 0x1B, F, ENV) == (0x8000000000000000, 0)
    assert fp_range.x_rndscale(0xBFD3333333333333, 0x10, F, ENV) == (0xBFE0000000000000, fp.PE)
    # 0.3 with M = 2, round up: 0.5; MXCSR.RC (imm8[2]) round down: 0.25
    assert fp_range.x_rndscale(0x3FD3333333333333, 0x22, F, ENV)[0] == 0x3FE0000000000000
    assert fp_range.x_rndscale(0x3FD3333333333333, 0x24, F, fp.FpEnv(RD, False, False, False))[0] == 0x3FD0000000000000


def test_reduce_is_src_minus_rndscale():
    """ext6.x_reduce (CPU-checked) against x - rndscale(x) in f32, exact for |x| >= 1."""
    rng = np.random.default_rng(2)
    x = _f32(rng, 3000)
    x = x[((x & 0x7F800000) != 0x7F800000) & ((x & 0x7F800000) >= 0x3F800000)]
    for imm in (0x10, 0x31, 0x52, 0x73, 0xF0):
        for b in x.tolist():
            r, _ = fp_range.x_rndscale(b, imm, fp.F32, ENV)
            d = np.float32(np.array([b], np.uint32).view(np.float32)[0] - np.array([r], np.uint32).view(np.float32)[0])
            want = int(np.array([d], np.float32).view(np.uint32)[0])
            if want & 0x7FFFFFFF == 0:                       # an exact zero is +0 unless rounding down
                want = 0x80000000 if imm & 3 == 1 else 0
            assert ext6.x_reduce(b, imm, fp.F32, ENV)[0] == want, (hex(b), imm)


# ---- lowering ----------------------------------------------------------------------------------

def _lower(text: str) -> list[str]:
    from test_x86_model_util import asm
    from translator.decode import decode_one
    from translator.lower import lower_snippet
    return lower_snippet(decode_one(asm(text)), flags_live_out=frozenset(), outline=True).lines


def test_vrange_lowering():
    assert _lower("vrangeps zmm1, zmm2, zmm3, 5") == ["ptrue p0.b", "movprfx z1, z2", "fmaxnm z1.s, p0/m, z1.s, z3.s"]
    assert _lower("vrangepd zmm1{k1}, zmm1, zmm3, 4") == ["ptrue p0.b", "fminnm z1.d, p1/m, z1.d, z3.d"]
    lines = _lower("vrangeps zmm1{k1}, zmm2, zmm3, 0xf")      # max-abs, sign set
    assert lines[:7] == ["ptrue p0.b", "movprfx z31, z2", "fmaxnm z31.s, p0/m, z31.s, z3.s",
                         "facgt p2.s, p0/z, z2.s, z3.s", "mov z31.s, p2/m, z2.s",
                         "facgt p2.s, p0/z, z3.s, z2.s", "mov z31.s, p2/m, z3.s"]
    assert lines[-3:] == ["fabs z31.s, p3/m, z31.s", "fneg z31.s, p3/m, z31.s", "mov z1.s, p1/m, z31.s"]
    assert _lower("vrangess xmm1, xmm2, xmm3, 5") == [
        "ptrue p0.b", "ptrue p1.b, vl16", "not p8.b, p0/z, p1.b", "movprfx z31, z2", "fmaxnm z31.s, p0/m, z31.s, z3.s",
        "ptrue p2.s, vl1", "sel z1.s, p2, z31.s, z2.s", "mov z1.b, p8/m, #0"]


def test_vreduce_and_rndscale_lowering():
    assert _lower("vreduceps zmm1, zmm2, 0x31") == [
        "ptrue p0.b", "mov z31.s, #0x60000000", "facge p1.s, p0/z, z2.s, z31.s", "mov z31.s, #3",
        "movprfx z30, z2", "fscale z30.s, p0/m, z30.s, z31.s", "frintm z30.s, p0/m, z30.s",
        "mov z31.s, #-3", "fscale z30.s, p0/m, z30.s, z31.s", "mov z30.s, p1/m, z2.s",
        "mrs x16, fpcr", "and x17, x16, #0xffffffffff3fffff", "orr x17, x17, #0x800000", "msr fpcr, x17",
        "fsubr z30.s, p0/m, z30.s, z2.s", "msr fpcr, x16",
        "mov z31.s, #0x7f800000", "facge p1.s, p0/z, z2.s, z31.s", "mov z30.s, p1/m, #0", "mov z1.s, p0/m, z30.s"]
    assert _lower("vreducepd zmm1{k1}{z}, zmm2, 4") == [
        "ptrue p0.b", "movprfx z31, z2", "frinti z31.d, p0/m, z31.d", "fsubr z31.d, p0/m, z31.d, z2.d",
        "mov z30.d, #0x7ff0000000000000", "facge p2.d, p0/z, z2.d, z30.d", "mov z31.d, p2/m, #0",
        "movprfx z1.d, p1/z, z31.d", "lsl z1.d, p1/m, z1.d, #0"]
    assert _lower("vrndscaleps zmm1, zmm2, 0x31") == [
        "ptrue p0.b", "mov z31.s, #0x60000000", "facge p1.s, p0/z, z2.s, z31.s", "mov z31.s, #3",
        "movprfx z1, z2", "fscale z1.s, p0/m, z1.s, z31.s", "frintm z1.s, p0/m, z1.s",
        "mov z31.s, #-3", "fscale z1.s, p0/m, z1.s, z31.s", "mov z1.s, p1/m, z2.s"]


# ---- verify and the CPU, every imm8 class -------------------------------------------------------

IMMS = {
    "vrangeps zmm1{k1}, zmm2, zmm3": list(range(16)),
    "vrangepd zmm1{k1}{z}, zmm2, zmm3": list(range(16)),
    # every scale M, each with two of the eight rounding / SPE variants
    "vreduceps zmm1{k1}, zmm2": [(m << 4) | r for m in range(16) for r in (m % 8, (m + 3) % 8)],
    "vreducepd zmm1{k1}{z}, zmm2": [(m << 4) | r for m in range(16) for r in ((m + 1) % 8, (m + 6) % 8)],
    "vrndscaleps zmm1{k1}{z}, zmm2": [(m << 4) | r for m in range(1, 16) for r in (m % 8, (m + 3) % 8)],
    "vrndscalepd zmm1{k1}, zmm2": [(m << 4) | r for m in range(1, 16) for r in ((m + 1) % 8, (m + 6) % 8)],
    "vrangess xmm1{k1}, xmm2, xmm3": list(range(16)),
    "vrangesd xmm1{k1}{z}, xmm2, xmm3": list(range(0, 16, 3)),
    "vreducess xmm1, xmm2, xmm3": [(m << 4) | (m % 8) for m in range(16)],
    "vreducesd xmm1{k1}, xmm2, xmm3": [(m << 4) | ((m + 5) % 8) for m in range(16)],
}


def _cases():
    from test_x86_model_util import asm
    from translator.decode import decode_one
    from translator.verify.forms import INSN_ADDRESS
    for shape, imms in IMMS.items():
        for imm in imms:
            raw = asm(f"{shape}, {imm:#x}")
            yield raw, decode_one(raw, INSN_ADDRESS)


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
def test_verify_every_imm8_class():
    from translator.lower.tables import default_tables
    from translator.verify.forms import Form, Instance
    from translator.verify.harness import Harness
    h = Harness(vl=512, states=6, max_failures=1)
    bad = []
    for raw, insn in _cases():
        f = Form(insn.form, default_tables().entry_for(insn.mnemonic), insn.mnemonic, [Instance(raw, insn)])
        r = h.run_form(f, 6)
        if r.mismatches or r.skipped or r.states != 6:
            bad.append((insn.mnemonic, raw.hex(), r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad


@pytest.mark.skipif(not HAVE_NATIVE, reason="needs an AVX-512 DQ host")
def test_model_against_cpu_every_imm8_class():
    from translator.verify import conformance as C
    from translator.verify.states import random_states
    ex = C.Executors("native")
    if not C.host_has(C.cpuid_features(next(_cases())[0]), ex.flags):
        pytest.skip("host lacks AVX512-DQ")
    rng = np.random.default_rng(7)
    bad = []
    try:
        for raw, insn in _cases():
            sts = random_states(rng, 6, kind=insn.mnemonic[-1], fp=True)
            for st, o in zip(sts, ex.run("native", [raw] * len(sts), sts)):
                v = C.compare(insn, st, C.run_model(insn, st), o)
                if v.kind != "agree" or v.mxcsr_status:
                    bad.append((insn.mnemonic, raw.hex(), v.kind, v.diff, v.notes))
    finally:
        ex.close()
    assert not bad, bad[:3]


VERIFY_FORMS = [r"vrangess xmm{k}, xmm, m32, imm8", r"vrangesd xmm{k}{z}, xmm, m64, imm8", r"vreducess xmm, xmm, m32, imm8",
                r"vreducesd xmm{k}, xmm, m64, imm8", r"vrangeps zmm{k}, zmm, m32bcst, imm8",
                r"vreducepd ymm{k}{z}, m256, imm8", r"vrndscalepd zmm{k}{z}, m64bcst, imm8"]


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
def test_verify_memory_forms():
    from conftest import exact_forms, verify_forms
    bad = verify_forms(exact_forms(VERIFY_FORMS), 24, count=len(VERIFY_FORMS))
    assert not bad, bad
