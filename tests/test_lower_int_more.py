"""Lowering of mapping_tables/int_more.yaml (VNNI dot products, vpternlog, integer compares into
opmasks, pabs, multiplies, psadbw, min/max, variable shifts, rotates) checked end to end (x86 model vs the SVE translation in
unicorn): every form of every mnemonic, every vpternlog and rotate immediate 0..255, the vpcmp predicates,
saturation edges of vpdpbusds / vpdpwssds; and the model handlers of ``x86model/ext3.py`` against
this host's CPU (AVX-512 hosts only).

Run ``python tests/test_lower_int_more.py FORM...`` for a quick report on single forms.
"""
from __future__ import annotations

import os
import random
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_x86_model_util import HAVE_AS, asm, rand_state  # noqa: E402
from test_lower_ext import HAVE_ARM, HAVE_NATIVE, _native_compare, check_form, check_model_native  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.lower import Unsupported  # noqa: E402

TABLE = "int_more.yaml"
N = int(os.environ.get("X2SVE_EXT_STATES", "40"))


def _mnemonics() -> list[str]:
    from translator.lower.tables import default_tables
    t = default_tables()
    return sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith(TABLE))


def _harness(vl: int = 512):
    from translator.verify.harness import Harness
    return Harness(vl=vl, states=24, max_failures=2)


def test_int_more_has_entries():
    ms = _mnemonics()
    for m in ("vpdpbusd", "vpdpbusds", "vpdpwssd", "vpdpwssds", "vpternlogd", "vpternlogq",
              "vpcmpub", "vpcmpd", "vpcmpeqb", "vpabsb", "vpmullw", "vptestmb", "vpminub", "vpmaxsq",
              "vpsllvw", "vpsravq", "vprold", "vprorvq"):
        assert m in ms


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("mnemonic", _mnemonics() if HAVE_ARM else [])
def test_int_more_verify(mnemonic):
    """Every form of every mnemonic of int_more.yaml: 0 mismatches, none skipped."""
    from translator.verify.forms import enumerate_forms
    forms = enumerate_forms(seed=3, only=f"^{re.escape(mnemonic)} ")
    assert forms, mnemonic
    h = _harness()
    bad = []
    for f in forms.values():
        r = h.run_form(f, 24)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad


def _run_text(line: str, states: int = 24):
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    raw = asm(line)
    insn = decode_one(raw, INSN_ADDRESS)
    f = Form(insn.form + f" [{line}]", default_tables().entry_for(insn.mnemonic), insn.mnemonic,
             [Instance(raw, insn)])
    return _harness().run_form(f, states)


TERNLOG_SHAPES = ["vpternlogd zmm1, zmm2, zmm3, {i}", "vpternlogq zmm1{{k1}}, zmm2, zmm3, {i}",
                  "vpternlogd zmm1{{k1}}{{z}}, zmm2, zmm3, {i}", "vpternlogq ymm1, ymm1, ymmword ptr [rax], {i}",
                  "vpternlogd xmm1{{k2}}, xmm2, dword ptr [rax]{{1to4}}, {i}",
                  "vpternlogd zmm3, zmm3, zmm3, {i}", "vpternlogq zmm1{{k1}}{{z}}, zmm1, qword ptr [rax]{{1to8}}, {i}"]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("shape", TERNLOG_SHAPES)
def test_ternlog_every_immediate(shape):
    bad = []
    for i in range(256):
        r = _run_text(shape.format(i=i), 8)
        if r.skipped or r.mismatches:
            bad.append((i, r.skipped, r.failures[:1]))
    assert not bad, bad


ROT_SHAPES = ["vprold zmm1, zmm2, {i}", "vprorq zmm1{{k1}}, zmm2, {i}", "vprolq ymm1{{k1}}{{z}}, ymmword ptr [rax], {i}",
              "vprord xmm1, dword ptr [rax]{{1to4}}, {i}"]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("shape", ROT_SHAPES)
def test_rotate_every_immediate(shape):
    bad = []
    for i in range(256):
        r = _run_text(shape.format(i=i), 8)
        if r.skipped or r.mismatches:
            bad.append((i, r.skipped, r.failures[:1]))
    assert not bad, bad


CMP_FORMS = [(f"vpcmp{u}{t} k1{{{{k2}}}}, {z}2, {z}3, {{i}}", None)
             for u in ("", "u") for t in "bwdq" for z in ("zmm", "xmm")]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("shape", [c[0] for c in CMP_FORMS])
def test_vpcmp_every_predicate(shape):
    bad = []
    for i in list(range(8)) + [0x0f, 0x83, 0xff]:
        r = _run_text(shape.format(i=i), 24)
        if r.skipped or r.mismatches:
            bad.append((i, r.skipped, r.failures[:1]))
    assert not bad, bad


# saturation edges: lanes of +-2^31 boundaries, -32768 pairs, extreme bytes
_EDGE32 = [0x7FFFFFFF, 0x80000000, 0x7FFFFF00, 0x80000100, 0x3FFFFFFF, 0xC0000000, 0, 0xFFFFFFFF,
           0x7FFE0000, 0x80010000]
_EDGE16 = [0x8000, 0x7FFF, 0x8001, 0xFFFF, 0, 1]
_EDGE8 = [0x80, 0x7F, 0xFF, 0x00, 0x81, 0x01]


def _edge_states(n: int = 48):
    rng = random.Random(11)
    out = []
    for j in range(n):
        s = rand_state(rng, mxcsr_random=False)
        for r in range(1, 4):
            if r == 1:
                v = np.array([rng.choice(_EDGE32) for _ in range(16)], np.uint32)
            elif j % 3 == 0:
                v = np.array([rng.choice(_EDGE8) for _ in range(64)], np.uint8)
            else:
                v = np.array([0x8000 if j % 2 else rng.choice(_EDGE16) for _ in range(32)], np.uint16)
            s.zmm[r] = v.tobytes()
        out.append(s)
    return out


SAT_FORMS = ["vpdpwssds zmm1, zmm2, zmm3", "vpdpwssds zmm1{k1}, zmm2, zmm3", "vpdpwssds ymm1{k1}{z}, ymm2, ymm3",
             "vpdpwssd zmm1, zmm2, zmm3", "vpdpbusds zmm1, zmm2, zmm3", "vpdpbusds xmm1{k1}{z}, xmm2, xmm3",
             "vpdpbusd zmm1{k1}, zmm2, zmm3", "vpdpbusds zmm1, zmm1, zmm1", "vpdpwssds zmm2, zmm2, zmm2"]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("form", SAT_FORMS)
def test_vnni_saturation_edges(form):
    assert not check_form(form, states=_edge_states())


# ---------------------------------------------------------------------------------------------
# model handlers of x86model/ext3.py against this host's CPU

NATIVE_FORMS = """
vpdpbusd zmm1, zmm2, zmm3
vpdpbusd zmm1{k1}, zmm2, zmmword ptr [rax]
vpdpbusd ymm1{k1}{z}, ymm2, dword ptr [rax]{1to8}
vpdpbusds zmm1, zmm2, zmm3
vpdpbusds xmm1{k2}, xmm2, xmm3
vpdpwssd zmm1, zmm2, zmm3
vpdpwssd zmm1{k1}{z}, zmm2, zmm3
vpdpwssds zmm1, zmm2, zmm3
vpdpwssds ymm1{k1}, ymm2, ymmword ptr [rax]
vpternlogd zmm1, zmm2, zmm3, 0x96
vpternlogd zmm1{k1}, zmm2, zmm3, 0xe8
vpternlogq ymm1{k1}{z}, ymm2, qword ptr [rax]{1to4}, 0xca
vpternlogd xmm1, xmm2, xmm3, 0x3c
vpternlogq zmm1, zmm2, zmm3, 0x1
vpcmpb k1, zmm2, zmm3, 1
vpcmpub k1{k2}, zmm2, zmm3, 2
vpcmpw k1, ymm2, ymm3, 5
vpcmpuw k1{k2}, xmm2, xmm3, 6
vpcmpd k1, zmm2, zmm3, 4
vpcmpud k1{k2}, zmm2, dword ptr [rax]{1to16}, 1
vpcmpq k1, zmm2, zmm3, 7
vpcmpuq k1, ymm2, ymm3, 3
vpcmpeqb k1, zmm2, zmm3
vpcmpeqw k1{k2}, ymm2, ymm3
vpcmpeqd k1, zmm2, dword ptr [rax]{1to16}
vpcmpeqq k1{k2}, xmm2, xmm3
vpcmpgtb k1, zmm2, zmm3
vpcmpgtw k1{k2}, zmm2, zmm3
vpcmpgtd k1, ymm2, ymm3
vpcmpgtq k1{k2}, zmm2, zmm3
vpcmpeqb ymm1, ymm2, ymm3
vpcmpgtq xmm1, xmm2, xmm3
pabsb xmm1, xmm2
vpabsb zmm1{k1}, zmm2
vpabsw ymm1, ymm2
vpabsd zmm1{k1}{z}, dword ptr [rax]{1to16}
vpabsq zmm1, zmm2
vpabsq xmm1{k1}, xmm2
pmulhw xmm1, xmm2
vpmulhw zmm1{k1}, zmm2, zmm3
vpmulhuw ymm1, ymm2, ymm3
pmuludq xmm1, xmm2
vpmuldq zmm1{k1}{z}, zmm2, zmm3
vpmuludq zmm1, zmm2, qword ptr [rax]{1to8}
vpmuldq ymm1, ymm2, ymm3
psadbw xmm1, xmm2
vpsadbw zmm1, zmm2, zmm3
vpsadbw ymm1, ymm2, ymm3
vprold zmm1, zmm2, 5
vprord zmm1{k1}, zmm2, 33
vprolq ymm1{k1}{z}, ymm2, 63
vprorq zmm1, qword ptr [rax]{1to8}, 0
vprolvd zmm1, zmm2, zmm3
vprorvd zmm1{k1}, zmm2, zmm3
vprolvq zmm1, zmm2, zmm3
vprorvq ymm1{k1}{z}, ymm2, ymm3
vpminub zmm1{k1}, zmm2, zmm3
vpmaxsq zmm1, zmm2, qword ptr [rax]{1to8}
vpminuq ymm1{k1}{z}, ymm2, ymm3
pminsb xmm1, xmm2
pmaxuw xmm1, xmmword ptr [rax]
vpsllvw zmm1, zmm2, zmm3
vpsravq zmm1{k1}, zmm2, zmm3
vpsrlvd ymm1, ymm2, ymm3
""".strip().splitlines()



@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    check_model_native(form, native_runner, 0x3A3A, N)


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", SAT_FORMS)
def test_vnni_edges_model_native(form, native_runner):
    code = asm(form)
    insn = decode_one(code)
    states = _edge_states()
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}")


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("imm", range(256))
def test_ternlog_model_native_every_immediate(imm, native_runner):
    form = f"vpternlogd zmm1{{k1}}, zmm2, zmm3, {imm}"
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(imm)
    states = [rand_state(rng) for _ in range(4)]
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"state {j}")


if __name__ == "__main__":
    bad = 0
    for t in sys.argv[1:]:
        try:
            e = check_form(t)
        except Unsupported as ex:
            print(f"UNSUPPORTED {t}: {ex.reason}")
            bad += 1
            continue
        print(("FAIL " if e else "ok   ") + t)
        for x in e[:3]:
            print("   ", x)
        bad += bool(e)
    sys.exit(1 if bad else 0)
