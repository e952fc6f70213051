"""mapping_tables/permute_more.yaml: vpermb / vpermt2b / vpermi2b, vpermilps/pd, (v)movddup /
movshdup / movsldup, (v)hadd/hsub{ps,pd}, the vextract/vinsert/vbroadcast 128/256-bit families,
VBMI2 funnel shifts, vpmultishiftqb, vdbpsadbw (model: translator/verify/x86model/ext10.py).

Pinned expansions for the main forms, one verify run over every form with few states (VL 512 and
1024), and the model against this CPU where it has AVX-512 VBMI/VBMI2.
"""
from __future__ import annotations

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_x86_model_util import HAVE_AS  # noqa: E402
from test_lower_ext import HAVE_ARM, HAVE_NATIVE, check_model_native  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.lower import lower_snippet  # noqa: E402

TABLE = "permute_more.yaml"
STATES = int(os.environ.get("X2SVE_EXT_STATES", "4"))


def _mnemonics() -> list[str]:
    from translator.lower.tables import default_tables
    t = default_tables()
    return sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith(TABLE))


def _sve(hexbytes: str) -> list[str]:
    """The lowering of one instruction, without the unit's set-up lines (ptrue, width predicates)."""
    return lower_snippet(decode_one(bytes.fromhex(hexbytes))).body


def test_entries_and_model():
    from translator.verify.x86model import modelled
    ms = _mnemonics()
    for m in ("vpermb", "vpermt2b", "vpermi2b", "vpermilps", "vpermilpd", "vmovddup", "movshdup",
              "vhaddps", "hsubpd", "vextractf64x4", "vinserti64x4", "vbroadcastf64x4", "vbroadcasti32x4",
              "vbroadcastf32x8", "vextractf128", "vpshldw", "vpshrdq", "vpshldvd", "vpshrdvw",
              "vdbpsadbw", "vpmultishiftqb", "vinsertps", "extractps"):
        assert m in ms, m
    assert all(modelled(m) for m in ms)


# Exact expansions (register numbers as lower_snippet assigns them), one per idea.
PINNED = {
    # vpermb zmm1, zmm2, zmm3
    "62f26d488dcb": ["movprfx z31, z2", "and z31.b, z31.b, #63", "tbl z1.b, {z3.b}, z31.b"],
    # vpermt2b zmm1, zmm2, zmm3: two tbls, out-of-range lanes read 0
    "62f26d487dcb": ["movprfx z31, z2", "and z31.b, z31.b, #127", "tbl z30.b, {z1.b}, z31.b",
                     "sub z31.b, z31.b, #64", "tbl z29.b, {z3.b}, z31.b", "orr z1.d, z30.d, z29.d"],
    # vpermilps zmm1, zmm2, zmm3
    "62f26d480ccb": ["movprfx z31, z3", "and z31.s, z31.s, #3", "index z30.s, #0, #1",
                     "and z30.s, z30.s, #0xfffffffc", "orr z31.d, z31.d, z30.d", "tbl z1.s, {z2.s}, z31.s"],
    # vmovddup zmm1, zmm2 / vmovshdup zmm1, zmm2
    "62f1ff4812ca": ["trn1 z1.d, z2.d, z2.d"],
    "62f17e4816ca": ["trn2 z1.s, z2.s, z2.s"],
    # vextractf64x4 ymm1, zmm2, 1
    "62f3fd481bd101": ["movprfx z1, z2", "ext z1.b, z1.b, z2.b, #32", "mov z1.b, p8/m, #0"],
    # vinserti64x4 zmm1, zmm2, ymm3, 1
    "62f3ed483acb01": ["ptrue p2.d, vl4", "movprfx z1, z2", "splice z1.d, p2, z1.d, z3.d"],
    # vextractf32x4 xmm1, zmm2, 2
    "62f37d4819d102": ["dup z1.q, z2.q[2]", "mov z1.b, p8/m, #0"],
    # vpshldd zmm1, zmm2, zmm3, 5
    "62f36d4871cb05": ["lsl z31.s, z2.s, #5", "lsr z30.s, z3.s, #27", "orr z1.d, z31.d, z30.d"],
    # vpshldvd zmm1, zmm2, zmm3
    "62f26d4871cb": ["movprfx z31, z3", "and z31.s, z31.s, #31", "movprfx z30, z31", "subr z30.s, z30.s, #32",
                     "lsrr z30.s, p0/m, z30.s, z2.s", "lsl z1.s, p0/m, z1.s, z31.s", "orr z1.s, p0/m, z1.s, z30.s"],
}


@pytest.mark.parametrize("hexbytes", sorted(PINNED))
def test_pinned_expansion(hexbytes):
    lines = _sve(hexbytes)
    assert lines == PINNED[hexbytes], (decode_one(bytes.fromhex(hexbytes)).text, lines)


def test_vhaddps_nan_fixup_reads_the_split_sources():
    """hadd's NaN priority sources are temporaries (the even and odd elements), not operands."""
    lines = _sve("c5ef7ccb")                   # vhaddps ymm1, ymm2, ymm3
    assert lines[:5] == ["trn1 z31.d, z2.d, z3.d", "trn2 z30.d, z2.d, z3.d",
                         "trn1 z29.s, z31.s, z30.s", "trn2 z28.s, z31.s, z30.s", "fadd z1.s, z29.s, z28.s"]
    assert any(re.fullmatch(r"fcmuo p\d+\.s, p\d+/z, z29\.s, z29\.s", l) for l in lines)


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("vl", [512, 1024])
def test_every_form_verifies(vl):
    """Every form of every mnemonic of permute_more.yaml (VL 1024: the zmm-destination forms, where
    the vector is narrower than SVE's): 0 mismatches, none skipped."""
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    rx = "^(" + "|".join(map(re.escape, _mnemonics())) + ") " + ("zmm" if vl > 512 else "")
    forms = enumerate_forms(seed=7, only=rx, per_form=1)
    assert len(forms) > (780 if vl == 512 else 250)
    h = Harness(vl=vl, states=STATES, max_failures=2)
    bad = []
    for f in forms.values():
        r = h.run_form(f, STATES)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad[:5]


NATIVE_FORMS = """
vpermb zmm1{k1}{z}, zmm2, zmmword ptr [rax]
vpermt2b zmm1{k1}, zmm2, zmm3
vpermi2b ymm1, ymm2, ymmword ptr [rax]
vpermilps zmm1{k1}, zmmword ptr [rax], 0x93
vpermilpd zmm1, zmm2, zmm3
vmovddup xmm1, qword ptr [rax]
vmovsldup ymm1{k1}{z}, ymm2
vhaddps ymm1, ymm2, ymm3
hsubpd xmm1, xmm2
vextracti32x8 ymmword ptr [rax]{k1}, zmm2, 1
vinsertf32x4 zmm1{k1}, zmm2, xmm3, 3
vbroadcasti64x4 zmm1, ymmword ptr [rax]
vbroadcastf32x2 zmm1{k1}, xmm2
vpshrdq zmm1{k1}, zmm2, zmm3, 63
vpshldvw zmm1, zmm2, zmm3
vpshrdvd ymm1{k1}{z}, ymm2, dword bcst [rax]
vpmultishiftqb zmm1{k1}, zmm2, qword bcst [rax]
vdbpsadbw zmm1, zmm2, zmm3, 0x1b
vinsertps xmm1, xmm2, xmm3, 0xe5
insertps xmm1, dword ptr [rax], 0x38
vextractps dword ptr [rax], xmm2, 3
""".strip().splitlines()


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    from translator.verify.x86model import fp
    old, fp.FORCE_EXACT = fp.FORCE_EXACT, True      # MXCSR.PE too (hadd/hsub)
    try:
        check_model_native(form, native_runner, 0x6E10, 24)
    finally:
        fp.FORCE_EXACT = old
