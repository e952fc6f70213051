"""fp_special_scalar.yaml (scalar vscalef/vgetmant/vgetexp ss/sd, vfpclassss/sd, vrndscaless/sd,
(v)roundss/sd) and vfpclassps/pd
with memory / {1toN} sources (fp_special.yaml; the engine takes the width of an opmask-destination
instruction's memory operand from iced's code). Models: x86model/ext6.py, ext14.py (vgetexpss/sd).

- the exact SVE of one memory vfpclassps form and of one scalar form;
- every form under verify with a few states (the full runs are in the commit messages).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_lower_ext import HAVE_ARM  # noqa: E402
from test_x86_model_util import HAVE_AS, asm  # noqa: E402
from translator.decode import decode_one  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _verify(rx: str, states: int = 6) -> dict:
    r = subprocess.run([sys.executable, "-m", "translator", "verify", "--only", rx, "--states", str(states),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = json.loads(r.stdout)
    assert r.returncode == 0, out["failures"][:3]
    return out


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_vfpclassps_m256_loads_under_width_and_mask():
    from translator.lower import lower_snippet
    snip = lower_snippet(decode_one(asm("vfpclassps k2{k1}, ymmword ptr [rax+64], 0x81")),
                         flags_live_out=frozenset())
    lines = snip.lines
    assert lines[1:5] == ["ptrue p2.b, vl32", "not p8.b, p0/z, p2.b",              # the 256-bit width
                          "and p3.b, p2/z, p1.b, p1.b",                             # ... and k1
                          "ld1w {z30.s}, p3/z, [x6, #1, mul vl]"]                   # only what x86 reads
    assert lines[-1] == "cmpne p9.s, p3/z, z29.s, #0"


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
def test_verify_vfpclass_packed_memory():
    out = _verify("^vfpclassp[sd] ")
    assert out["forms"] == 28 and out["mismatches"] == 0 and not out["skipped"]


def test_table_is_generated():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_fp_special_scalar.py")],
                       capture_output=True, text=True, check=True)
    with open(os.path.join(ROOT, "mapping_tables", "fp_special_scalar.yaml")) as f:
        assert f.read() == r.stdout


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
@pytest.mark.parametrize("src,want", [
    (0x41000000, 0x40400000),      # 8.0 -> 3.0
    (0x80000000, 0xFF800000),      # -0 -> -Inf
    (0xFF800000, 0x7F800000),      # -Inf -> +Inf
    (0x00000001, 0xC3150000),      # smallest denormal -> -149.0
    (0x3F7FFFFF, 0xBF800000),      # just below 1.0 -> -1.0
    (0xFF800123, 0xFFC00123),      # SNaN -> quieted, sign and payload kept
])
def test_getexpss_model(src, want):
    from test_x86_model_util import rand_state
    import random
    from translator.verify.x86model import execute
    s = rand_state(random.Random(2), mxcsr_random=False)
    s.zmm[2] = src.to_bytes(4, "little") + s.zmm[2][4:]
    out = execute(decode_one(asm("vgetexpss xmm0, xmm1, xmm2")), s)
    assert out.zmm[0][:4] == want.to_bytes(4, "little")
    assert out.zmm[0][4:16] == s.zmm[1][4:16] and out.zmm[0][16:] == bytes(48)


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_vgetexpss_zero_masked_memory_expansion():
    from translator.lower import lower_snippet
    snip = lower_snippet(decode_one(asm("vgetexpss xmm0{k1}{z}, xmm1, dword ptr [rax+8]")),
                         flags_live_out=frozenset())
    body = snip.lines[3:-1]
    assert body[:3] == ["ptrue p3.s, vl1", "and p4.b, p3/z, p1.b, p1.b",      # lane 0 & k1
                        "ld1rw {z31.s}, p4/z, [x6, #8]"]                      # read only if k1[0]
    assert body[-8:] == [
        "fcmuo p5.s, p0/z, z31.s, z31.s", "mov z29.s, p5/m, z31.s",
        "mov z28.s, #0x400000", "orr z29.s, p5/m, z29.s, z28.s",             # NaN: quieted source
        "sel z27.s, p4, z29.s, z1.s",                                         # lane 0 into src1
        "bic p4.b, p0/z, p3.b, p4.b", "mov z27.s, p4/m, #0",                  # {z}: k1[0] = 0
        "mov z0.d, z27.d"]
    assert snip.lines[-1] == "mov z0.b, p8/m, #0"                            # zero above 128 bits
    assert len(body) == 27


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
def test_verify_scalar_forms():
    out = _verify("^v(scalef|getmant|getexp|fpclass)s[sd] ")
    assert out["forms"] == 62 and out["mismatches"] == 0 and not out["skipped"]


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_round_scalar_expansions():
    from translator.lower import lower_snippet

    def body(text):
        return lower_snippet(decode_one(asm(text)), flags_live_out=frozenset()).lines[3:]
    assert body("vroundss xmm0, xmm1, xmm2, 9") == [                     # imm8 1: floor; 8: no PE
        "ptrue p2.s, vl1", "frintm z31.s, p0/m, z2.s", "sel z0.s, p2, z31.s, z1.s", "mov z0.b, p8/m, #0"]
    assert body("roundsd xmm0, qword ptr [rax], 4") == [                 # MXCSR.RC; legacy keeps the rest
        "ptrue p2.d, vl1", "ld1rd {z31.d}, p2/z, [x6]", "frinti z0.d, p2/m, z31.d"]


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
def test_verify_round_scalar_forms():
    out = _verify("^(v?rounds[sd]|vrndscales[sd]) ")
    assert out["forms"] == 26 and out["mismatches"] == 0 and not out["skipped"]
