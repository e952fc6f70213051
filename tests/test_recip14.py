"""vrcp14* / vrsqrt14* (mapping_tables/recip14.yaml, model x86model/ext7.py): bit-exact.

- the model's values pinned to ones measured on this host's CPU (the function was established on
  every f32 input and 5.5e8 f64 inputs under every DAZ/FTZ/RC setting, see ext7.py);
- the lowering's exact SVE for one form, and where its constant table goes;
- the translation against the model (unicorn) on edge-value states: every segment boundary,
  powers of two, each denormal shift, the overflow/underflow thresholds, NaN/Inf/zero, negatives;
- every form of the eight mnemonics through ``verify`` with a few states;
- the model against this CPU on the same edges, DAZ/FTZ/RC varied (AVX-512 hosts only).
"""
from __future__ import annotations

import os
import random
import re
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_x86_model_util import HAVE_AS, asm, rand_state  # noqa: E402
from test_lower_ext import HAVE_ARM, HAVE_NATIVE, _native_compare, check_form  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.verify.x86model import ext7, modelled  # noqa: E402

MNEMONICS = ["vrcp14ps", "vrcp14pd", "vrcp14ss", "vrcp14sd",
             "vrsqrt14ps", "vrsqrt14pd", "vrsqrt14ss", "vrsqrt14sd"]


def test_entries_and_handlers():
    from translator.lower.tables import default_tables
    t = default_tables()
    for m in MNEMONICS:
        e = t.entry_for(m)
        assert e is not None and e.where.split(":")[0].endswith("recip14.yaml"), m
        assert modelled(m), m
        assert len(e.data) == 9 and e.data[0] == "{L0}:"      # label + 64 words
    assert len(ext7.RCP14) == len(ext7.RSQRT14) == 64


# results of this host's CPU (AMD, AVX-512): (input bits, rcp14, rsqrt14)
F32_HW = [
    (0x3F800000, 0x3F800000, 0x3F800000),      # 1.0: exact
    (0x3F800001, 0x3F7FFE00, 0x3F7FFD00),      # the table, segment 0, j 0
    (0x40000000, 0x3F000000, 0x3F350280),      # 2.0: rcp exact, rsqrt from the table (bochs: 1.0)
    (0x40400000, 0x3EAAAA80, 0x3F13CC80),      # 3.0
    (0x7E800001, 0x007FFF00, 0x1FFFFD00),      # 2^126: the rcp result is a denormal (hidden bit kept)
    (0x7F000001, 0x003FFF80, 0x1FB50280),      # 2^127
    (0x00000000, 0x7F800000, 0x7F800000),
    (0x80000000, 0xFF800000, 0xFF800000),
    (0x7F800000, 0x00000000, 0x00000000),
    (0xFF800000, 0x80000000, 0xFFC00000),      # -Inf: rsqrt gives the (negative) default NaN
    (0x7F800001, 0x7FC00001, 0x7FC00001),      # SNaN quieted
    (0xBF800000, 0xBF800000, 0xFFC00000),
    (0x00200000, 0x7F800000, 0x5F800000),      # 2^-128: rcp overflows
]


@pytest.mark.parametrize("x,rcp,rsq", F32_HW)
def test_model_values(x, rcp, rsq):
    assert ext7.rcp14(x, 4, False, False) == rcp
    assert ext7.rsqrt14(x, 4, False, False) == rsq


def test_model_daz_ftz_f64():
    assert ext7.rcp14(0x00000001, 4, True, False) == 0x7F800000          # DAZ: a denormal is zero
    assert ext7.rcp14(0x7E800001, 4, False, True) == 0                    # FTZ: the denormal result flushed
    assert ext7.rcp14(0x3FF0000000000000, 8, False, False) == 0x3FF0000000000000
    assert ext7.rcp14(0x3FF0000000000001, 8, False, False) == 0x3FEFFFC000000000   # low bits: table
    assert ext7.rsqrt14(0x4000000000000000, 8, False, False) == 0x3FE6A05000000000


def test_lowering_text():
    from translator.lower import lower_snippet
    snip = lower_snippet(decode_one(bytes.fromhex("62f27d484cc1")), outline=True)   # vrcp14ps zmm0, zmm1
    assert snip.body == [
        "fabs z31.s, p0/m, z1.s", "frecpx z30.s, p0/m, z1.s", "dupm z29.s, #0x200000",
        "cmphs p1.s, p0/z, z29.s, z31.s", "clz z28.s, p0/m, z31.s", "uqsub z28.s, z28.s, #8",
        "lsl z31.s, p0/m, z31.s, z28.s", "lsr z27.s, z31.s, #17", "and z27.s, z27.s, #63",
        "adr x16, .Lx1", "ld1w {z27.s}, p0/z, [x16, z27.s, uxtw #2]", "lsr z29.s, z27.s, #22",
        "lsl z27.s, z27.s, #14", "movprfx z26, z31", "and z26.s, z26.s, #0x1ff80",
        "msb z26.s, p0/m, z29.s, z27.s", "lsr z26.s, z26.s, #16", "lsl z26.s, z26.s, #7",
        "orr z26.s, z26.s, #0x3f800000", "lsl z29.s, z31.s, #9", "cmpeq p2.s, p0/z, z29.s, #0",
        "fmov z26.s, p2/m, #2.0", "sub z28.s, z28.s, #2", "fscale z26.s, p0/m, z26.s, z28.s",
        "dupm z29.s, #0x7f800000", "mov z26.s, p1/m, z29.s", "movprfx z0, z30",
        "fmul z0.s, p0/m, z0.s, z26.s"]
    assert snip.outlined[:2] == [".balign 8", ".Lx1:"] and len(snip.outlined) == 10
    assert snip.outlined[2].startswith(".word 0xfc43fff2, ")
    inline = lower_snippet(decode_one(bytes.fromhex("62f27d484cc1")))             # no out-of-line area
    assert inline.body[0] == "b .Lx2" and inline.body[11] == ".Lx2:" and inline.body[12].startswith("fabs")


def _edges(nbytes: int, rng: random.Random) -> list[int]:
    fb = 23 if nbytes == 4 else 52
    eb = 8 if nbytes == 4 else 11
    bias, emax = (1 << (eb - 1)) - 1, (1 << eb) - 1
    sgn, inf, q = 1 << (eb + fb), emax << fb, 1 << (fb - 1)
    v = [0, sgn, inf, sgn | inf, inf | q, sgn | inf | q, inf | 1, inf | (q >> 1) | 5, 1, sgn | 1,
         (1 << fb) - 1, 1 << fb, (emax - 1) << fb | ((1 << fb) - 1), (emax - 2) << fb | 1,
         (emax - 2) << fb, (emax - 1) << fb, (emax - 1) << fb | 1]
    tiny = 1 << 21 if nbytes == 4 else 1 << 50                          # 2^-128 / 2^-1024
    v += [tiny - 1, tiny, tiny + 1, sgn | tiny, sgn | (tiny + 1)]
    for e in (bias, bias + 1, 1, 2, emax - 3):                         # segment starts and ends
        for s in range(64):
            v += [e << fb | s << (fb - 6), e << fb | s << (fb - 6) | ((1 << (fb - 6)) - (1 << (fb - 16)))]
    for sh in range(fb):                                                 # every denormal shift
        v += [1 << sh | rng.getrandbits(sh) if sh else 1, sgn | 1 << sh]
    for e in range(0, emax, 3):                                          # powers of two, both parities
        v += [e << fb, (e + 1) << fb, sgn | e << fb]
    v += [rng.getrandbits(eb + fb + 1) for _ in range(64)]
    return v


def _edge_states(form: str, nbytes: int, seed: int = 7):
    insn = decode_one(asm(form))
    src = insn.ops[-1].index
    rng = random.Random(seed)
    vals = _edges(nbytes, rng)
    per = 64 // nbytes
    fmt = "<%d%s" % (per, "I" if nbytes == 4 else "Q")
    states = []
    for i in range(0, len(vals), per):
        chunk = (vals[i:i + per] + vals[:per])[:per]
        s = rand_state(rng, mxcsr_random=False)
        s.zmm[src] = struct.pack(fmt, *chunk)
        states.append(s)
    return states


EDGE_FORMS = [("vrcp14ps zmm1, zmm2", 4), ("vrcp14pd zmm1, zmm2", 8), ("vrsqrt14ps zmm1, zmm2", 4),
              ("vrsqrt14pd zmm1, zmm2", 8), ("vrcp14ps zmm3{k1}{z}, zmm3", 4),
              ("vrsqrt14pd ymm17{k2}, ymm30", 8), ("vrcp14ss xmm1{k1}, xmm2, xmm3", 4),
              ("vrsqrt14sd xmm1{k1}{z}, xmm2, xmm3", 8)]


@pytest.mark.skipif(not (HAVE_ARM and HAVE_AS), reason="needs unicorn and GNU as")
@pytest.mark.parametrize("form,nbytes", EDGE_FORMS)
def test_translation_edges(form, nbytes):
    """The SVE lowering against the model on every edge value (scalar forms: lane 0 cycles)."""
    states = _edge_states(form, nbytes)
    if re.search(r"s[sd] ", form):                   # scalar: put each edge value into element 0
        per = 64 // nbytes
        more = []
        for s in states:
            for j in range(per):
                t = rand_state(random.Random(j), mxcsr_random=False)
                t.zmm[3] = s.zmm[3][j * nbytes:(j + 1) * nbytes] + s.zmm[3][nbytes:]
                more.append(t)
        states = more[::3]
    assert check_form(form, states=states) == []


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
def test_verify_every_form():
    """Every form the eight entries claim (packed, scalar, masked, m/m-bcst): 0 mismatches."""
    from conftest import verify_forms
    assert verify_forms(r"^vr(cp|sqrt)14", 6, count=(132,)) == []


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form,nbytes", EDGE_FORMS[:4] + [("vrcp14ss xmm1{k1}, xmm2, xmm3", 4)])
def test_model_native_edges(form, nbytes, native_runner):
    """The model against this CPU on the edge values, with DAZ / FTZ / RC varied."""
    code = asm(form)
    insn = decode_one(code)
    states = _edge_states(form, nbytes, seed=11)
    for j, s in enumerate(states):
        s.mxcsr = 0x1F80 | (j & 3) << 13 | (0x40 if j % 5 == 1 else 0) | (0x8000 if j % 3 == 2 else 0)
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}, mxcsr {s.mxcsr:#x}")
