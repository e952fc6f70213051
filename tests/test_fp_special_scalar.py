"""fp_special_scalar.yaml (scalar vscalef/vgetmant/vgetexp ss/sd, vfpclassss/sd) and vfpclassps/pd
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
