"""fp_special.yaml (vscalef, vgetmant, vfpclass, vrange, vreduce) and its x86 model
(``translator/verify/x86model/ext6.py``).

- the exact SVE of one vscalefps form (the expansion is part of the contract);
- the model on the x86 special-case tables (hand-picked bit patterns);
- every form of every entry under ``python -m translator verify`` (few states: CI speed; the full
  runs are in the commit messages);
- the model against this host's CPU on edge-value states, MXCSR rounding, DAZ and FTZ included.
"""
from __future__ import annotations

import json
import os
import random
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
from translator.lower.tables import default_tables  # noqa: E402
from translator.verify.x86model import ext6  # noqa: E402
from translator.verify.x86model.fp import F32, F64, FpEnv  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "mapping_tables", "fp_special.yaml")
RN, RD, RU, RZ = (FpEnv(rc) for rc in range(4))

PINF, NINF, QN, NQN, SN = 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFC00002, 0x7F800003
ONE, MONE, DNAN = 0x3F800000, 0xBF800000, 0xFFC00000


def _mnemonics() -> list[str]:
    return sorted({m for e in default_tables().all_entries() if e.where.startswith(TABLE)
                   for m in e.mnemonics})


def test_entries_present():
    assert {"vscalefps", "vscalefpd", "vgetmantps", "vgetmantpd", "vfpclassps",
            "vfpclasspd"} <= set(_mnemonics())


# ---- the model on the SDM special-case tables -------------------------------------------------

@pytest.mark.parametrize("a,b,want", [
    (QN, PINF, PINF), (QN, NINF, 0), (NQN, 0x40000000, NQN), (QN, NQN, QN),    # QNaN src1
    (SN, PINF, 0x7FC00003), (0, SN, 0x7FC00003),                              # SNaN: quieted
    (0, PINF, DNAN), (0x80000000, NINF, 0x80000000),                           # 0 * 2**+-Inf
    (PINF, NINF, DNAN), (NINF, PINF, NINF),                                   # Inf * 2**+-Inf
    (MONE, PINF, NINF), (MONE, NINF, 0x80000000), (1, PINF, PINF),             # exact in any mode
    (ONE, 0x80000005, 0x3F000000),                                            # floor(-denormal) = -1
    (ONE, 0x3FC00000, 0x40000000), (ONE, 0xBFC00000, 0x3E800000),             # floor(+-1.5)
    (1, 0x3F800000, 2), (0x7F7FFFFF, 0x3F800000, PINF),                       # denormal in, overflow
])
def test_scalef_special_cases(a, b, want):
    assert ext6.x_scalef(a, b, F32, RN)[0] == want


def test_scalef_rounding_and_flags():
    # an overflow rounds per mode (unlike 2**+Inf); a denormal src1 (only) raises DE
    assert ext6.x_scalef(ONE, 0x43000000, F32, RZ) == (0x7F7FFFFF, 0x28)
    assert ext6.x_scalef(ONE, PINF, F32, RZ) == (PINF, 0)
    assert ext6.x_scalef(3, ONE, F32, RN) == (6, 0x2)
    assert ext6.x_scalef(ONE, 3, F32, RN) == (ONE, 0)
    assert ext6.x_scalef(0x0170000000000000, 0xC08F400000000000, F64, RD)[0] == 0   # 2**-1000 * 2**-1000
    assert ext6.x_scalef(0x0170000000000000, 0xC08F400000000000, F64, RU)[0] == 1


@pytest.mark.parametrize("a,imm,want", [
    (0x40400000, 0, 0x3FC00000), (0x40400000, 1, 0x3F400000), (0x40400000, 2, 0x3F400000),
    (0x40400000, 3, 0x3F400000), (0x40800000, 1, 0x3F800000), (0x41000000, 1, 0x3F000000),
    (0xC0400000, 0, 0xBFC00000), (0xC0400000, 4, 0x3FC00000), (0xC0400000, 8, DNAN),
    (0x80000000, 8, MONE), (0x80000000, 12, ONE), (0, 2, ONE), (NINF, 2, MONE), (NINF, 8, DNAN),
    (SN, 0, 0x7FC00003), (NQN, 8, NQN), (1, 0, ONE), (3, 1, 0x3FC00000), (3, 2, 0x3F400000),
])
def test_getmant_cases(a, imm, want):
    assert ext6.x_getmant(a, imm, F32, RN)[0] == want


# ---- the exact expansion of one form ----------------------------------------------------------

@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_vscalefps_expansion():
    from translator.lower import lower_snippet
    snip = lower_snippet(decode_one(asm("vscalefps zmm0, zmm1, zmm2")), flags_live_out=frozenset(),
                         outline=True)
    assert snip.body == [
        "lsl z31.s, z2.s, #1", "mov z30.s, #0xff000000", "cmphs p1.s, p0/z, z31.s, z30.s",
        "frintm z29.s, p0/m, z2.s", "fcvtzs z29.s, p0/m, z29.s", "movprfx z28, z1",
        "fscale z28.s, p0/m, z28.s, z29.s", "movprfx z29, z2", "fmax z29.s, p1/m, z29.s, #0.0",
        "mov z28.s, p1/m, z1.s", "lsl z31.s, z1.s, #1", "mov z30.s, #0xff800000",
        "cmphs p2.s, p1/z, z31.s, z30.s", "fmov z28.s, p2/m, #1.0",
        "fmul z28.s, p1/m, z28.s, z29.s", "mov z0.d, z28.d",
        "fcmuo p3.s, p0/z, z0.s, z0.s", "ptest p0, p3.b", "b.ne .Lx2", ".Lx1:"]   # NaN slow path


# ---- every form under verify ------------------------------------------------------------------

FAMILIES = sorted({m[:-2] for m in _mnemonics()})


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
@pytest.mark.parametrize("family", FAMILIES)
def test_verify_all_forms(family):
    rx = f"^{family}[ps][sd] "          # no alternation: verify's cheap mnemonic pre-filter applies
    r = subprocess.run([sys.executable, "-m", "translator", "verify", "--only", rx, "--states", "8",
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = json.loads(r.stdout)
    assert out["forms"] >= 10 and out["mismatches"] == 0 and not out["skipped"], out["failures"][:3]
    assert r.returncode == 0


# ---- the model against this CPU ---------------------------------------------------------------

E32 = [0, 0x80000000, PINF, NINF, QN, NQN, SN, 0xFF800004, DNAN, 1, 0x80000003, 0x007FFFFF,
       0x807FFFFE, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, ONE, MONE, 0x3FC00000, 0xBFC00000,
       0x3FA00000, 0x3F400000, 0x40400000, 0x3E800000, 0x42FE0000, 0xC3160000, 0x4B000001,
       0x33800000, 0x41200000, 0xC1200000]
E64 = [0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000001, 0xFFF8000000000000,
       0x7FF0000000000003, 1, 0x800FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
       0x3FF0000000000000, 0xBFF0000000000000, 0x3FF8000000000000, 0xBFF8000000000000,
       0x3FE8000000000000, 0x408FF00000000000, 0xC090C80000000000, 0x4330000000000001]
MXCSR = [0x1F80, 0x3F80, 0x5F80, 0x7F80, 0x1FC0, 0x9F80, 0x9FC0]


def edge_state(rng, j: int):
    s = rand_state(rng)
    for z in range(32):
        if rng.random() < 0.5:
            v = np.array([rng.choice(E32) for _ in range(16)], np.uint32)
        else:
            v = np.array([rng.choice(E64) for _ in range(8)], np.uint64)
        s.zmm[z] = v.tobytes()
    s.mem = np.array([rng.choice(E32) for _ in range(len(s.mem) // 8)] * 2, np.uint32).tobytes()[:len(s.mem)]
    s.mxcsr = MXCSR[j % len(MXCSR)]
    return s


NATIVE_FORMS = """
vscalefps zmm0, zmm1, zmm2
vscalefps zmm0{k1}{z}, zmm1, zmm2, {rd-sae}
vscalefps ymm3{k1}, ymm1, dword ptr [rax]{1to8}
vscalefpd zmm0, zmm1, zmm2
vscalefpd xmm0{k1}, xmm1, xmm2
vgetmantps zmm0, zmm1, 0
vgetmantps zmm0{k1}, zmm1, 11
vgetmantps xmm0{k1}{z}, dword ptr [rax]{1to4}, 5
vgetmantpd zmm0, zmm1, 1
vgetmantpd ymm0, ymmword ptr [rax], 14
vfpclassps k1{k2}, zmm1, 0xff
vfpclassps k1, xmm1, 0x5a
vfpclasspd k1{k2}, zmm1, 0xa5
""".strip().splitlines()


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()))
    states = [edge_state(rng, j) for j in range(21)]
    for s in states:
        s.gpr["rax"] = s.mem_base + 64
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}, mxcsr {s.mxcsr:#x}")


# ---- every imm8 of the imm8-driven entries: model vs translation on edge states --------------

FPCLASS_IMM = sorted({1 << i for i in range(8)} | set(range(0, 256, 9)))    # all 256: see the commit
ALL_IMM = [("vgetmantps zmm0{k1}, zmm1, %d", range(16)), ("vgetmantpd zmm0, zmm1, %d", range(16)),
           ("vfpclassps k1{k2}, zmm1, %d", FPCLASS_IMM), ("vfpclasspd k3, ymm1, %d", FPCLASS_IMM)]


@pytest.mark.skipif(not (HAVE_ARM and HAVE_AS), reason="needs unicorn and GNU as")
@pytest.mark.parametrize("form,imms", ALL_IMM, ids=[f for f, _ in ALL_IMM])
def test_every_imm(form, imms):
    errs = []
    for imm in imms:
        text = form % imm
        rng = random.Random(zlib.crc32(text.encode()))
        states = [edge_state(rng, j) for j in range(8 if len(imms) <= 16 else 3)]
        for st in states:               # the translation assumes DAZ and FTZ off (RC is kept)
            st.mxcsr &= ~0x8040
        errs += check_form(text, states=states)
    assert not errs, "\n".join(errs[:5])
