"""convert_pd.yaml (pd / scalar conversions, v(u)comis) and its model (x86model/ext5.py).

- the exact SVE of the main forms (the expansion per x86 instruction is pinned here);
- boundary values where float -> int conversions go wrong first (2^31 - 0.5, 2^32, 2^63, -0.5,
  -1.0, NaN ...), in every MXCSR rounding mode: model vs SVE (unicorn) and model vs this CPU;
- one verify run of a few forms per family (model vs SVE, every state edge-rich).
"""
from __future__ import annotations

import json
import os
import random
import struct
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
from translator.lower import lower_snippet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _d(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _f(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


# f64 patterns around the i32 / u32 / i64 / u64 limits and the rounding ties
D_EDGE = [_d(v) for v in (
    0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -1.0, -0.99, -1.5, 2147483647.0, 2147483647.5, 2147483647.49,
    2147483648.0, -2147483648.0, -2147483648.5, -2147483648.49, -2147483649.0, 4294967295.0,
    4294967295.5, 4294967295.49, 4294967296.0, 2.0 ** 63, 2.0 ** 63 - 1024, -(2.0 ** 63),
    -(2.0 ** 63) - 2048, 2.0 ** 64, 2.0 ** 64 - 2048, 1e300, -1e300, 5e-324, -5e-324,
    16777217.0, 3.4028235677973366e38, 3.4028235677973362e38, 1.1754942e-38, 1.401298464324817e-45,
    7.006492321624085e-46, 1.0000000596046448, 1.0000000596046449)] + [
    0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000001, 0xFFF4000000000001,
    0x7FF0000000000001, 0xFFF8000000000000, 0x000FFFFFFFFFFFFF, 0x8000000000000001]
# f32 patterns around the i64 / u64 / u32 / i32 limits
F_EDGE = [_f(v) for v in (
    0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -1.0, -0.99, 2147483520.0, 2147483648.0, -2147483648.0,
    -2147483904.0, 4294967040.0, 4294967296.0, 2.0 ** 63, 2.0 ** 63 - 2 ** 39, -(2.0 ** 63),
    -(2.0 ** 63) - 2 ** 40, 2.0 ** 64, 2.0 ** 64 - 2 ** 40, 1e-45, 3e38)] + [
    0x7F800000, 0xFF800000, 0x7FC00001, 0xFFA00001, 0x7F800001, 0x807FFFFF]
I_EDGE = [0, 1, (1 << 64) - 1, (1 << 63) - 1, 1 << 63, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF,
          (1 << 53) + 1, (1 << 24) + 1, (1 << 63) + (1 << 39) + 1, 0xFFFFFFFF00000001,
          0x7FFFFFFFFFFFFDFF, 0xFFFFFFFFFFFFFC01, 0x1000000000000801]


def edge_state(rng: random.Random, i: int, daz_ftz: bool = False):
    s = rand_state(rng, mxcsr_random=False)
    s.mxcsr = 0x1F80 | ((i & 3) << 13)
    if daz_ftz:
        s.mxcsr |= rng.choice([0, 0x40, 0x8000, 0x8040])
    for z in range(32):
        if z % 2:
            s.zmm[z] = np.array([rng.choice(D_EDGE) for _ in range(8)], dtype=np.uint64).tobytes()
        else:
            s.zmm[z] = np.array([rng.choice(F_EDGE) for _ in range(16)], dtype=np.uint32).tobytes()
    mem = [rng.choice(D_EDGE) if (j // 8) % 2 else rng.choice(F_EDGE) | (rng.choice(F_EDGE) << 32)
           for j in range(512)]
    s.mem = np.array(mem, dtype=np.uint64).tobytes()
    for r in ("rcx", "rdx", "r8", "r9", "r10"):
        s.gpr[r] = rng.choice(I_EDGE)
    return s


# Each form reads registers of both kinds (odd: f64 edges, even: f32 edges) and memory.
EDGE_FORMS = """
vcvtpd2dq ymm2{k1}, zmm1
vcvtpd2dq xmm2, xmm3
vcvttpd2dq xmm2{k1}{z}, ymm3
vcvtpd2udq ymm2{k1}{z}, zmm1
vcvttpd2udq xmm2, ymmword ptr [rax]
vcvtpd2qq zmm2, zmm1
vcvttpd2qq zmm2{k1}, zmm3
vcvtpd2uqq zmm2{k1}{z}, zmm1
vcvttpd2uqq ymm2, ymm3
vcvtps2qq zmm1, ymm2
vcvttps2qq zmm1{k1}, ymm2
vcvtps2uqq zmm1{k1}{z}, ymm2
vcvttps2uqq xmm1, xmm2
vcvtps2udq zmm1, zmm2
vcvttps2udq zmm1{k1}, zmm2
vcvtpd2ps ymm2, zmm1
vcvtpd2ps xmm2{k1}, xmm3
vcvtps2pd zmm1, ymm2
vcvtqq2ps ymm2, zmm1
vcvtuqq2ps ymm2{k1}, zmm3
vcvtqq2pd zmm2, zmm1
vcvtuqq2pd zmm2, zmm1
vroundpd ymm2, ymm1, 4
vrndscalepd zmm2{k1}, zmm1, 0
vcvtsd2si eax, xmm1
vcvtsd2si rax, xmm3
vcvttsd2si eax, xmm1
vcvttsd2si rax, xmm1
vcvtsd2usi eax, xmm1
vcvttsd2usi rax, xmm3
vcvtss2si eax, xmm2
vcvtss2si rax, xmm2
vcvttss2usi eax, xmm2
vcvtss2usi rax, xmm2
vcvtsi2ss xmm1, xmm2, rcx
vcvtsi2sd xmm1, xmm2, rdx
vcvtusi2ss xmm1, xmm2, r8
vcvtusi2sd xmm1, xmm2, r9
vcvtusi2ss xmm1, xmm2, r10d
vcvtsd2ss xmm2{k1}, xmm4, xmm1
vcvtss2sd xmm1{k1}{z}, xmm3, xmm2
vucomisd xmm1, xmm3
vcomiss xmm2, xmm4
cvtpd2dq xmm2, xmm1
cvttpd2dq xmm2, xmm3
cvtps2pd xmm1, xmm2
cvtsi2sd xmm1, rdx
cvtsi2ss xmm1, r9d
cvttsd2si eax, xmm1
cvtsd2ss xmm2, xmm1
ucomisd xmm1, xmm3
""".strip().splitlines()


@pytest.mark.skipif(not (HAVE_ARM and HAVE_AS), reason="needs unicorn, the encoder and GNU as")
@pytest.mark.parametrize("form", EDGE_FORMS)
def test_edges_model_vs_sve(form):
    rng = random.Random(zlib.crc32(form.encode()))
    states = [edge_state(rng, i) for i in range(24)]
    errs = check_form(form, states=states)
    assert not errs, errs[0]


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", EDGE_FORMS)
def test_edges_model_vs_cpu(form, native_runner):
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()) ^ 0x77)
    states = [edge_state(rng, i, daz_ftz=True) for i in range(24)]
    for j, (s, o) in enumerate(zip(states, native_runner.run_many(code, states))):
        _native_compare(form, insn, s, o, f"state {j}, mxcsr {s.mxcsr:#x}")


# The expansion of the main forms, pinned (A64 lines as the verify snippet allocates them).
EXPANSION = {
    "vcvtps2pd zmm1, ymm2": ["uunpklo z31.d, z2.s", "fcvt z1.d, p0/m, z31.s"],
    "vcvtpd2ps ymm1, zmm2": ["fcvt z31.s, p0/m, z2.d", "uzp1 z1.s, z31.s, z31.s", "mov z1.b, p8/m, #0"],
    "vcvttpd2dq ymm1{k1}, zmm2": [
        "fcmeq p3.d, p0/z, z2.d, z2.d", "mov z31.d, #0xffffffff80000000", "mov z30.d, z31.d",
        "fcvtzs z30.d, p3/m, z2.d", "smax z30.d, p0/m, z30.d, z31.d", "mov z31.d, #0x80000000",
        "smin z30.d, p0/m, z30.d, z31.d", "uzp1 z30.s, z30.s, z30.s", "mov z1.s, p1/m, z30.s",
        "mov z1.b, p8/m, #0"],
    "vcvtps2qq zmm1, ymm2": [
        "uunpklo z31.d, z2.s", "frintx z30.s, p0/m, z31.s", "fcmeq p2.s, p0/z, z30.s, z30.s",
        "mov z1.d, #0x8000000000000000", "fcvtzs z1.d, p2/m, z30.s", "movprfx z29, z1",
        "add z29.d, z29.d, #1", "smin z1.d, p0/m, z1.d, z29.d"],
    "vcvtpd2uqq zmm1, zmm2": ["frintx z31.d, p0/m, z2.d", "fcmge p1.d, p0/z, z31.d, #0.0", "mov z1.d, #-1",
                              "fcvtzu z1.d, p1/m, z31.d"],
    "vcvtsi2sd xmm1, xmm2, rax": ["ptrue p2.d, vl1", "mov z31.d, x6", "scvtf z31.d, p2/m, z31.d",
                                  "sel z1.d, p2, z31.d, z2.d", "mov z1.b, p8/m, #0"],
    "vcvtsd2ss xmm1{k1}, xmm2, xmm3": ["ptrue p3.d, vl1", "and p4.b, p3/z, p1.b, p1.b", "fcvt z31.s, p3/m, z3.d",
                                       "sel z31.s, p4, z31.s, z1.s", "sel z1.s, p3, z31.s, z2.s", "mov z1.b, p8/m, #0"],
    "vucomiss xmm0, xmm1": ["fcmp s0, s1", "fccmp s0, s1, #5, vc"],
    "vcomisd xmm2, xmm3": ["fcmpe d2, d3", "fccmpe d2, d3, #5, vc"],
}


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
@pytest.mark.parametrize("form", sorted(EXPANSION))
def test_expansion(form):
    snip = lower_snippet(decode_one(asm(form)))
    assert snip.lines[-len(EXPANSION[form]):] == EXPANSION[form]


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and the encoder")
def test_verify_sample():
    """A few forms of every family through `x2sve verify` (model vs SVE, edge-rich states)."""
    rx = (r"^(vcvtps2pd zmm|vcvtpd2ps ymm|vcvttpd2dq xmm|vcvtpd2udq ymm|vcvttps2qq zmm|vcvtsd2ss xmm\{k\}"
          r"|vcvtsi2ss xmm, xmm, r64|vcvttsd2si r32|vucomisd xmm, m64|vrndscalepd zmm\{k\})")
    r = subprocess.run([sys.executable, "-m", "translator", "verify", "--only", rx, "--states", "16",
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = json.loads(r.stdout)
    assert out["forms"] >= 80 and out["mismatches"] == 0 and not out["skipped"], out.get("failures", [])[:3]
    assert r.returncode == 0
