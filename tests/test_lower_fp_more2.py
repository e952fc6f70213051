"""fp_convert_more.yaml (bf16 / f16 / fp conversions) checked end to end, and its model
(``translator/verify/x86model/ext4.py``) against this host's CPU.

- every form of every entry: ``python -m translator verify`` (model vs SVE in unicorn, also with
  all temporaries spilled), 128 edge-heavy states per form, 0 mismatches;
- the model against the CPU (``NativeRunner``) on random states and on hand-picked bit patterns
  (rounding ties, carries into the exponent, NaN payloads, denormals, the largest finite values),
  with MXCSR rounding modes, DAZ and FTZ.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "mapping_tables", "fp_convert_more.yaml")


def _entries() -> list[str]:
    return sorted({e.name for e in default_tables().all_entries() if e.where.startswith(TABLE)})


# 32-bit patterns where conversions go wrong first
F32_EDGE = [
    0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x007FFFFF, 0x00800000, 0x80800000,
    0x3F800000, 0x3F808000, 0x3F818000, 0x3F80FFFF, 0x3F807FFF, 0x3F808001, 0xBF808000,
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x7F800000, 0xFF800000,
    0x7F800001, 0xFF800001, 0x7FC00000, 0xFFC00000, 0x7FBFFFFF, 0x7F80FFFF, 0x7FFFFFFF,
    0x38800000, 0x387FE000, 0x33800000, 0x33000000, 0x33000001, 0x477FE000, 0x477FF000,
    0x477FEFFF, 0x47800000, 0x38FFE000, 0x39000000, 0x3F000000, 0xC0490FDB, 0x40490FDB,
]
F16_EDGE = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00,
            0x7C01, 0xFC01, 0x7E00, 0xFE00, 0x7DFF, 0x3C00, 0xBC00, 0x3555, 0x0200]


def edge_state(rng, i: int):
    """A random state whose vectors and memory are filled with edge patterns (rotated by i)."""
    s = rand_state(rng)
    pats32 = F32_EDGE[i % len(F32_EDGE):] + F32_EDGE[:i % len(F32_EDGE)]
    pats16 = F16_EDGE * 4
    for z in range(32):
        if z % 3 == 0:
            v = np.array([rng.choice(pats32) for _ in range(16)], dtype=np.uint32).tobytes()
        elif z % 3 == 1:
            v = np.array([rng.choice(pats16) for _ in range(32)], dtype=np.uint16).tobytes()
        else:
            v = np.array(pats32[:16], dtype=np.uint32).tobytes()
        s.zmm[z] = v
    mem = np.array([rng.choice(pats32) if (j // 16) % 2 == 0 else
                    (rng.choice(pats16) | (rng.choice(pats16) << 16)) for j in range(1024)],
                   dtype=np.uint32)
    s.mem = mem.tobytes()
    return s


def test_entries_present():
    assert {"vcvtneps2bf16", "vcvtph2ps", "vcvtps2ph", "vgetexpps"} <= set(_entries())


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
@pytest.mark.parametrize("entry", _entries())
def test_verify_entry(entry):
    """Every form of the entry: 128 states, 0 mismatches (verify's own exit status)."""
    mnems = next(e.mnemonics for e in default_tables().all_entries() if e.name == entry)
    rx = "^(" + "|".join(mnems) + ") "
    r = subprocess.run([sys.executable, "-m", "translator", "verify", "--only", rx, "--states",
                        "128", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = json.loads(r.stdout)
    assert out["forms"] > 0 and out["mismatches"] == 0 and not out["skipped"], out["failures"][:3]
    assert r.returncode == 0


FORMS = """
vcvtneps2bf16 xmm1, xmm2
vcvtneps2bf16 xmm1{k1}, xmm2
vcvtneps2bf16 xmm1{k1}{z}, ymm2
vcvtneps2bf16 ymm1{k1}, zmm2
vcvtneps2bf16 ymm1, zmmword ptr [rax]
vcvtneps2bf16 xmm1{k1}{z}, dword ptr [rax]{1to4}
vcvtph2ps zmm1, ymm2
vcvtph2ps xmm1{k1}{z}, qword ptr [rax]
vcvtph2ps ymm1{k1}, xmm1
vcvtps2ph ymm1, zmm2, 4
vcvtps2ph xmm1, xmm2, 0
vcvtps2ph xmm1{k1}, ymm2, 1
vcvtps2ph xmm1, ymm2, 2
vcvtps2ph xmm1{k1}{z}, xmm2, 3
vcvtps2ph qword ptr [rax]{k1}, xmm2, 9
vcvtps2ph ymmword ptr [rax], zmm2, 0xa
vcvtps2ph ymm1, zmm2, {sae}, 1
vgetexpps zmm1, zmm2
vgetexpps zmm2{k1}{z}, zmm2
vgetexpps xmm1{k1}, xmmword ptr [rax]
vgetexpps ymm1{k1}{z}, dword ptr [rax]{1to8}
vgetexpps zmm1, zmm2, {sae}
""".strip().splitlines()



@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", FORMS)
def test_model_native_edges(form, native_runner):
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()))
    states = [edge_state(rng, j) for j in range(48)]
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"edge state {j}, mxcsr {s.mxcsr:#x}")


@pytest.mark.skipif(not (HAVE_ARM and HAVE_AS), reason="needs unicorn and GNU as")
@pytest.mark.parametrize("form", FORMS)
def test_translation_edges(form):
    rng = random.Random(zlib.crc32(form.encode()) ^ 1)
    states = [edge_state(rng, j) for j in range(48)]
    for s in states:                  # the translation assumes DAZ and FTZ off (RC is kept)
        s.mxcsr &= ~0x8040
    errs = check_form(form, states=states)
    assert not errs, "\n".join(errs[:5])
