"""Lowering of scalar.yaml and more_vector.yaml checked end to end (x86 model vs the SVE
translation in unicorn, every form of every mnemonic, every immediate the imm8 rules claim), and
the model handlers of ``x86model/ext2.py`` against this host's CPU (AVX-512 hosts only).

Run ``python tests/test_lower_more.py FORM...`` for a quick report on single forms.
"""
from __future__ import annotations

import os
import random
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_x86_model_util import HAVE_AS, asm, rand_state  # noqa: E402
from test_lower_ext import HAVE_ARM, HAVE_NATIVE, _native_compare, check_form, check_model_native  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.lower import Unsupported  # noqa: E402

MORE_TABLES = ("scalar.yaml", "more_vector.yaml")
N = int(os.environ.get("X2SVE_EXT_STATES", "60"))


def _more_mnemonics() -> list[str]:
    from translator.lower.tables import default_tables
    t = default_tables()
    return sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith(MORE_TABLES))


def _harness(vl: int = 512):
    from translator.verify.harness import Harness
    return Harness(vl=vl, states=24, max_failures=2)


def test_more_tables_have_entries():
    ms = _more_mnemonics()
    for m in ("vmovss", "movd", "vmovq", "vaddss", "vpextrq", "vpackssdw", "vbroadcastf128", "vfmsub213ps", "vfixupimmps"):
        assert m in ms


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("mnemonic", _more_mnemonics() if HAVE_ARM else [])
def test_more_tables_verify(mnemonic):
    """Every form of every mnemonic of scalar.yaml / more_vector.yaml: 0 mismatches, none skipped."""
    from translator.verify.forms import enumerate_forms
    forms = enumerate_forms(seed=1, only=f"^{re.escape(mnemonic)} ")
    assert forms, mnemonic
    h = _harness()
    bad = []
    for f in forms.values():
        r = h.run_form(f, 24)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad


IMM_FORMS: list[tuple[str, int]] = []
for _t, _n, _r in (("b", 16, "ecx"), ("w", 8, "ecx"), ("d", 4, "ecx"), ("q", 2, "rcx")):
    _sz = {"b": "byte", "w": "word", "d": "dword", "q": "qword"}[_t]
    IMM_FORMS += [(f"vpextr{_t} {_r}, xmm2, {{i}}", i) for i in range(_n + 1)]
    IMM_FORMS += [(f"pextr{_t} {_sz} ptr [rax+3], xmm2, {{i}}", i) for i in range(_n)] + [(f"pextr{_t} {_r}, xmm5, {{i}}", 0xff)]
IMM_FORMS += [("vpalignr ymm1, ymm2, ymm3, {i}", i) for i in list(range(34)) + [0xff]]
IMM_FORMS += [("vpalignr zmm1{{k1}}{{z}}, zmm2, zmmword ptr [rax+5], {i}", i) for i in (3, 16, 19, 32)]
IMM_FORMS += [("palignr xmm1, xmm2, {i}", i) for i in range(34)] + [("palignr xmm1, xmmword ptr [rax], 7", 7)]
IMM_FORMS += [("vpshufd zmm1{{k1}}, zmm2, {i}", i) for i in (0x00, 0x1b, 0x4e, 0xb1, 0xe4, 0xff, 0x27, 0xd8)]
IMM_FORMS += [("pshufd xmm1, xmm2, {i}", i) for i in (0x00, 0x1b, 0x93, 0xff)]
IMM_FORMS += [("vpblendd ymm1, ymm2, ymm3, {i}", i) for i in (0x00, 0x01, 0x02, 0x80, 0xa5, 0x5a, 0x3c, 0xff)]
IMM_FORMS += [("vinsertf128 ymm1, ymm2, xmm3, {i}", i) for i in range(4)]
IMM_FORMS += [("vshuff32x4 zmm1{{k1}}, zmm2, zmm3, {i}", i) for i in range(0, 256, 7)]
IMM_FORMS += [("vshufi64x2 ymm1, ymm2, ymmword ptr [rax], {i}", i) for i in range(4)]
IMM_FORMS += [("vinserti128 ymm1, ymm2, xmmword ptr [rax], {i}", i) for i in range(4)]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("text,imm", IMM_FORMS)
def test_more_imm_forms(text, imm):
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    line = text.format(i=imm)
    raw = asm(line)
    insn = decode_one(raw, INSN_ADDRESS)
    f = Form(insn.form + f" imm={imm:#x}", default_tables().entry_for(insn.mnemonic), insn.mnemonic,
             [Instance(raw, insn)])
    r = _harness().run_form(f, 24)
    assert not r.skipped and r.mismatches == 0, (line, r.skipped, r.failures[:1])


# every (token, response) pair of vfixupimmps: src1 lanes of each token class, src2 = one response
# nibble in every position (every third lane random)
_FIX_LANES = [0x7FC00000, 0xFFC12345, 0x7F800001, 0xFFA00000, 0, 0x80000000, 0x3F800000, 0xFF800000,
              0x7F800000, 0xBF800000, 0x40000000, 0x00000001, 0x807FFFFF, 0xC0490FDB, 0x7F7FFFFF, 0x00800000]
FIX_FORMS = ["vfixupimmps zmm1, zmm2, zmm3, 0", "vfixupimmps zmm1{k1}, zmm2, zmm3, 0xff",
             "vfixupimmps zmm1{k1}{z}, zmm2, zmm3, 0x12", "vfixupimmps ymm1, ymm2, ymm3, 0x5a"]


def _fix_states(mxcsr_random: bool = False):
    import numpy as np
    rng = random.Random(7)
    out = []
    for r in range(16):
        for rot in range(2):
            s = rand_state(rng, mxcsr_random=mxcsr_random)
            a = np.array(_FIX_LANES[rot:] + _FIX_LANES[:rot], np.uint32)
            t = np.full(16, int(f"{r:x}" * 8, 16), np.uint32)
            t[::3] = rng.getrandbits(32)
            s.zmm[2], s.zmm[3] = a.tobytes(), t.tobytes()
            out.append(s)
    return out


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("form", FIX_FORMS)
def test_fixupimm_every_token_and_response(form):
    assert not check_form(form, states=_fix_states())


# ---------------------------------------------------------------------------------------------
# model handlers of x86model/ext2.py against this host's CPU

NATIVE_FORMS = """
movd xmm1, eax
movd xmm1, dword ptr [rax]
movd eax, xmm3
movd dword ptr [rax], xmm3
vmovd xmm1, ecx
vmovd xmm17, dword ptr [rax]
vmovd ecx, xmm2
movq xmm1, rax
movq xmm1, xmm2
movq xmm1, qword ptr [rax]
movq qword ptr [rax], xmm1
movq rcx, xmm1
vmovq xmm1, rax
vmovq xmm1, xmm2
vmovq xmm20, xmm2
vmovq xmm1, qword ptr [rax]
vmovq qword ptr [rax], xmm1
movhlps xmm1, xmm2
vmovhlps xmm1, xmm2, xmm3
movlps xmm1, qword ptr [rax]
movlps qword ptr [rax], xmm1
vmovlps xmm1, xmm2, qword ptr [rax]
vmovlps qword ptr [rax], xmm1
pextrb eax, xmm1, 5
pextrb byte ptr [rax], xmm1, 17
pextrw eax, xmm1, 3
pextrw word ptr [rax], xmm1, 9
pextrd ecx, xmm1, 2
pextrq rcx, xmm1, 1
vpextrq qword ptr [rax], xmm1, 3
vpextrd dword ptr [rax], xmm1, 3
vpextrw ecx, xmm2, 7
vpextrb ecx, xmm2, 15
vbroadcastf128 ymm1, xmmword ptr [rax]
vbroadcasti128 ymm1, xmmword ptr [rax]
vinsertf128 ymm1, ymm2, xmm3, 1
vinsertf128 ymm1, ymm2, xmmword ptr [rax], 0
vinserti128 ymm1, ymm2, xmm3, 0
packssdw xmm1, xmm2
packsswb xmm1, xmm2
packuswb xmm1, xmmword ptr [rax]
vpackssdw ymm1, ymm2, ymm3
vpackssdw zmm1{k1}{z}, zmm2, dword ptr [rax]{1to16}
vpackssdw zmm1{k1}, zmm2, zmm3
vpacksswb ymm1, ymm2, ymm3
vpacksswb zmm1{k1}, zmm2, zmm3
vpackuswb ymm1, ymm2, ymmword ptr [rax]
vpackuswb zmm1, zmm2, zmm3
vmaskmovps xmm1, xmm2, xmmword ptr [rax]
vmaskmovps ymm1, ymm2, ymmword ptr [rax]
vmaskmovps ymmword ptr [rax], ymm2, ymm3
vmaskmovps xmmword ptr [rax], xmm2, xmm3
blendvps xmm1, xmm2
blendvps xmm1, xmmword ptr [rax]
vblendvps ymm1, ymm2, ymm3, ymm4
vblendvps xmm1, xmm2, xmmword ptr [rax], xmm4
vpblendd ymm1, ymm2, ymm3, 0xa5
vpblendd xmm1, xmm2, xmmword ptr [rax], 0x36
palignr xmm1, xmm2, 5
palignr xmm1, xmm2, 17
vpalignr ymm1, ymm2, ymm3, 4
vpalignr ymm1, ymm2, ymm3, 20
vpalignr zmm1{k1}{z}, zmm2, zmm3, 8
vpalignr xmm1, xmm2, xmm3, 40
pcmpeqd xmm1, xmm2
vpcmpeqd ymm1, ymm2, ymm3
vpcmpeqd xmm1, xmm2, xmmword ptr [rax]
vfixupimmps zmm1, zmm2, zmm3, 0
vfixupimmps zmm1{k1}, zmm2, zmm3, 0xff
vfixupimmps zmm1{k1}{z}, zmm2, dword ptr [rax]{1to16}, 0x12
vfixupimmps ymm1, ymm2, ymm3, 0
vfixupimmps xmm1, xmm2, xmmword ptr [rax], 0
vfixupimmps zmm1, zmm2, zmm3, {sae}, 0xff
vfixupimmps zmm5{k2}, zmm5, zmm5, 0x5a
""".strip().splitlines()



@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    check_model_native(form, native_runner, 0x5A5A, N)


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", FIX_FORMS)
def test_fixupimm_model_native(form, native_runner):
    code = asm(form)
    insn = decode_one(code)
    states = _fix_states(mxcsr_random=True)
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"state {j}, mxcsr {s.mxcsr:#x}")


if __name__ == "__main__":
    bad = 0
    for t in sys.argv[1:]:
        try:
            e = check_form(t)
        except Unsupported as ex:
            print(f"UNSUPPORTED {t}: {ex.reason}")
            bad += 1
            continue
        print(("OK   " if not e else "FAIL ") + t)
        for x in e[:3]:
            print(x)
        bad += bool(e)
    sys.exit(bad != 0)
