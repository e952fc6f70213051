"""Lowering of the vector tables (moves, int_arith, masks, convert, compare).

- every form the tables claim lowers and assembles (translator.encode; and, where llvm-mc is
  installed, llvm-mc accepts the whole batch — it also rejects movprfx misuse);
- exact values on unicorn for the tricky ones: the cvt fix-up (NaN / out of range, every rounding
  mode), vcmpps with all 32 predicates on NaN-heavy inputs (model comparison through the verify
  harness), k register layouts (kmov through every home layout, multi-step layout packs),
  NZCV kept around SVE integer compares, and the forms the x86 model does not know yet
  (vptestm*, vpmulld, vpmaxsd/vpminsd) against numpy.
"""
from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_x86_model_util import asm  # noqa: E402
from translator.decode import decode_one  # noqa: E402
from translator.ir import Insn  # noqa: E402
from translator.lower import Engine, RegMap, UnitContext, default_tables, lower_snippet  # noqa: E402
from translator.lower.regmap import GPR_TO_X, X_CTX, k_to_pred_bytes, pred_bytes_to_k  # noqa: E402
from translator.verify.forms import Form, Instance, enumerate_forms  # noqa: E402
from translator.verify.state import ArmState  # noqa: E402

try:
    from translator.encode import assemble
    from translator.verify.arm_exec import SCRATCH_BASE, ArmRunner
    HAVE_ARM = True
except Exception:                                   # pragma: no cover
    HAVE_ARM = False

MY_FILES = ("moves.yaml", "int_arith.yaml", "masks.yaml", "convert.yaml", "compare.yaml")
HAVE_AS = shutil.which("as") is not None and shutil.which("objcopy") is not None
needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and translator.encode")
_RUNNER = {}


def runner(vl: int = 512):
    if vl not in _RUNNER:
        _RUNNER[vl] = ArmRunner(vl)
    return _RUNNER[vl]


def X(text: str) -> Insn:
    return decode_one(asm(text))


def my_entries():
    t = default_tables()
    return [e for e in t.all_entries() if os.path.basename(e.where.split(":")[0]) in MY_FILES]


def my_forms() -> dict:
    names = {m for e in my_entries() for m in e.mnemonics}
    rx = "^(" + "|".join(sorted(names)) + r")\b"
    return enumerate_forms(only=rx, per_form=3)


# ---------------------------------------------------------------------------------------------
# every form lowers and assembles

@needs_arm
def test_every_form_lowers_and_assembles():
    forms = my_forms()
    assert len(forms) > 900, len(forms)
    batch, bad = [], []
    for name, f in sorted(forms.items()):
        for inst in f.instances:
            for fin in ({}, {"ZF": "Z", "CF": "C", "SF": "N", "OF": "V"}):
                snip = lower_snippet(inst.insn, flags_in=fin)
                try:
                    assemble(snip.lines)
                except Exception as e:            # noqa: BLE001
                    bad.append(f"{inst.insn.text}: {e} {snip.lines}")
                batch += snip.lines
    assert not bad, "\n".join(bad[:5])
    if shutil.which("llvm-mc"):
        with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as fh:
            fh.write("\n".join(l for l in batch if not l.endswith(":")) + "\n")
        r = subprocess.run(["llvm-mc", "-triple=aarch64", "-mattr=+sve", "-filetype=obj", "-o",
                            os.devnull, fh.name], capture_output=True, text=True)
        os.unlink(fh.name)
        assert r.returncode == 0 and "error" not in r.stderr, r.stderr[:2000]


def test_rules_cover_the_corpus_shapes():
    """The shapes the corpus uses most, each with its expected core instruction."""
    cases = {
        "vpslld zmm1, zmm2, 7": "lsl z1.s, z2.s, #7",
        "vpsrad zmm1, zmm2, 40": "asr z1.s, p0/m, z1.s, #31",
        "vmovups zmm1, [rdi+64]": "ld1w {z1.s}, p0/z, [x0, #1, mul vl]",
        "vmovups [rdi], zmm3": "st1w {z3.s}, p0, [x0]",
        "vbroadcastss zmm1, dword ptr [rdi+8]": "ld1rw {z1.s}, p0/z, [x0, #8]",
        "vpbroadcastd zmm1, dword ptr [rsi]": "ld1rw {z1.s}, p0/z, [x1]",
        "vpbroadcastd zmm1, eax": "mov z1.s, w6",
        "vbroadcastss zmm1, xmm2": "dup z1.s, z2.s[0]",
        "vpxord zmm1, zmm2, zmm3": "eor z1.d, z2.d, z3.d",
        "vpaddd ymm1, ymm2, ymm3": "add z1.s, z2.s, z3.s",
        "vmovups zmmword ptr [rdi]{k1}, zmm2": "st1w {z2.s}, p1, [x0]",
        "vmovdqu16 zmm1, [rdi]": "ld1h {z1.h}, p0/z, [x0]",
        "vcvtdq2ps zmm1, zmm2": "scvtf z1.s, p0/m, z2.s",
        "kxnorw k1, k1, k1": "not p8.b, p1/z, p8.b",
    }
    for text, want in cases.items():
        lines = lower_snippet(X(text)).body
        assert want in lines, f"{text}: {lines}"


# ---------------------------------------------------------------------------------------------
# helpers for exact runs

def _arm_state(snip, z=None, k=None, gpr=None, nzcv=0, fpcr=0, mem=None) -> ArmState:
    a = ArmState(512)
    if z:
        a.z = [z.get(i, bytes(64)) for i in range(32)]
    rm = snip.regmap
    a.p = [bytes(8)] * 16
    for kk, p in rm.k_pred.items():
        a.p[p] = k_to_pred_bytes((k or {}).get(kk, 0), rm.layout_of_k(kk), 512)
    for name, v in (gpr or {}).items():
        a.x[GPR_TO_X[name]] = v
    a.x[X_CTX] = SCRATCH_BASE
    a.nzcv, a.fpcr = nzcv, fpcr
    if mem is not None:
        a.mem = mem
    return a


def _run(snip, state):
    return runner().run(assemble(snip.lines), state)


def f32(*vals) -> bytes:
    return struct.pack("<16I", *vals)


# ---------------------------------------------------------------------------------------------
# cvt fix-up: exact values in every rounding mode

CVT_IN = [0x7FC00000, 0x7F800001, 0xFFC00001, 0x7F800000, 0xFF800000, 0x4F000000, 0xCF000000,
          0x4EFFFFFF, 0xCF000001, 0x3F000000, 0x3FC00000, 0x40200000, 0xBFC00000, 0x00000001,
          0x80000001, 0x5F800000]
RMODES = {0: "rn", 1: "ru", 2: "rd", 3: "rz"}          # FPCR.RMode -> x86 name


def _x86_cvt(bits: int, mode: str, truncate: bool) -> int:
    v = struct.unpack("<f", struct.pack("<I", bits))[0]
    if v != v or v in (float("inf"), float("-inf")):
        return 0x80000000
    import math
    if truncate or mode == "rz":
        r = math.trunc(v)
    elif mode == "rn":
        r = round(v)                     # Python rounds half to even
    elif mode == "ru":
        r = math.ceil(v)
    else:
        r = math.floor(v)
    if not -(1 << 31) <= r < (1 << 31):
        return 0x80000000
    return r & 0xFFFFFFFF


@needs_arm
@pytest.mark.parametrize("text,truncate", [("vcvtps2dq zmm1, zmm2", False), ("vcvttps2dq zmm1, zmm2", True),
                                           ("vcvtps2dq zmm2, zmm2", False), ("vcvttps2dq zmm2{k1}{z}, zmm2", True),
                                           ("vcvtps2dq zmm1{k1}{z}, zmm1", False)])
@pytest.mark.parametrize("rmode", [0, 1, 2, 3])
def test_cvt_fixup_exact(text, truncate, rmode):
    insn = X(text)
    snip = lower_snippet(insn)
    dst = insn.ops[0].index
    src = insn.ops[1].index
    kval = 0xFFFF if not insn.mask else 0xB7ED
    out = _run(snip, _arm_state(snip, z={src: f32(*CVT_IN), dst: f32(*CVT_IN) if dst == src else bytes(64)},
                                k={1: kval}, fpcr=rmode << 22))
    got = struct.unpack("<16I", out.z[dst])
    want = [(_x86_cvt(b, RMODES[rmode], truncate) if kval >> i & 1 else 0) for i, b in enumerate(CVT_IN)]
    assert list(got) == want, [hex(g) for g in got]


@needs_arm
def test_cvtdq2ps_rounds_per_fpcr():
    snip = lower_snippet(X("vcvtdq2ps zmm1, zmm2"))
    ints = [0x7FFFFFFF, 0x80000001, 16777217, 16777219, -16777217 & 0xFFFFFFFF, 1, 0, 0xFFFFFFFF] * 2
    for rmode, expect0 in ((0, 0x4F000000), (3, 0x4EFFFFFF), (2, 0x4EFFFFFF), (1, 0x4F000000)):
        out = _run(snip, _arm_state(snip, z={2: f32(*ints)}, fpcr=rmode << 22))
        assert struct.unpack("<16I", out.z[1])[0] == expect0


# ---------------------------------------------------------------------------------------------
# vcmpps: all 32 predicates against the x86 model, NaN-heavy states (verify harness)

@needs_arm
@pytest.mark.parametrize("shape", ["k1, zmm1, zmm2", "k1{k2}, zmm3, zmm4", "k3{k3}, ymm1, ymm2",
                                   "k1, zmm1, dword ptr [rdi]{1to16}", "k5{k6}, xmm17, xmmword ptr [rsi+16]",
                                   # VEX: all-ones / all-zeros lanes
                                   "ymm1, ymm2, ymm3", "ymm4, ymm4, ymmword ptr [rdi]", "xmm1, xmm2, xmm1"])
def test_vcmpps_all_predicates(shape):
    from translator.verify.harness import Harness
    t = default_tables()
    for mn in ("vcmpps",):
        f = Form(f"{mn} {shape}", t.entry_for(mn), mn)
        for imm in range(32):
            insn = X(f"{mn} {shape}, {imm}")
            f.instances.append(Instance(insn.raw, insn, 1, f"imm{imm}"))
        res = Harness(states=32 * 8, seed=7).run_form(f)
        assert not res.skipped, res.skipped
        assert res.mismatches == 0, res.failures[:1]


# ---------------------------------------------------------------------------------------------
# k registers: kmov through every home layout, layout conversions (multi-step packs)

def _unit_snippet(insn: Insn, layout: str):
    """Lower ``insn`` with every k register homed in ``layout``."""
    ks = {op.index for op in insn.ops if type(op).__name__ == "KReg"} | ({insn.mask} if insn.mask else set())
    rm = RegMap.for_unit([insn], vl=512, k_pref={k: layout for k in ks}, k_min={k: layout for k in ks})
    eng = Engine(default_tables(), rm)
    body, fout = eng.lower(insn, UnitContext(), {})

    class S:
        pass
    s = S()
    s.regmap, s.lines, s.flags_in = rm, rm.setup_lines() + body, {}
    return s


@needs_arm
@pytest.mark.parametrize("layout", ["b", "h", "s", "d"])
@pytest.mark.parametrize("width,text", [(16, "kmovw k1, eax"), (8, "kmovb k1, eax"), (32, "kmovd k1, eax"),
                                        (64, "kmovq k1, rax")])
def test_kmov_from_gpr_every_layout(layout, width, text):
    snip = _unit_snippet(X(text), layout)
    cap = 512 // 8 // {"b": 1, "h": 2, "s": 4, "d": 8}[layout]
    for v in (0xFFFFFFFFFFFFFFFF, 0x8000000180018001, 0x123456789ABCDEF0, 0):
        out = _run(snip, _arm_state(snip, k={1: 0x5555555555555555}, gpr={"rax": v}))
        got = pred_bytes_to_k(out.p[snip.regmap.k_pred[1]], layout, 512)
        assert got == v & ((1 << min(width, cap)) - 1), (hex(got), hex(v))
        # canonical: no predicate bits between the layout's element bits
        bits = int.from_bytes(out.p[snip.regmap.k_pred[1]], "little")
        e = {"b": 1, "h": 2, "s": 4, "d": 8}[layout]
        assert bits & ~sum(1 << (i * e) for i in range(cap)) == 0


@needs_arm
@pytest.mark.parametrize("layout", ["b", "h", "s", "d"])
@pytest.mark.parametrize("width,text", [(16, "kmovw eax, k1"), (8, "kmovb eax, k1"), (32, "kmovd eax, k1"),
                                        (64, "kmovq rax, k1")])
def test_kmov_to_gpr_every_layout(layout, width, text):
    snip = _unit_snippet(X(text), layout)
    cap = 512 // 8 // {"b": 1, "h": 2, "s": 4, "d": 8}[layout]
    for v in (0xFFFFFFFFFFFFFFFF, 0x8000000180018001, 0x123456789ABCDEF0):
        vv = v & ((1 << cap) - 1)
        out = _run(snip, _arm_state(snip, k={1: vv}, gpr={"rax": 0xDEADBEEFDEADBEEF}))
        assert out.x[GPR_TO_X["rax"]] == vv & ((1 << width) - 1)


@needs_arm
@pytest.mark.parametrize("layout", ["b", "h", "d"])
def test_vcmpps_into_other_home_layouts(layout):
    """vcmpps produces layout s; the home may be finer (2-step pack to b) or coarser."""
    insn = X("vcmpps k1{k2}, zmm1, zmm2, 1")
    snip = _unit_snippet(insn, layout)
    a = np.arange(16, dtype=np.float32)
    b = np.full(16, 7.5, dtype=np.float32)
    cap = 512 // 8 // {"b": 1, "h": 2, "s": 4, "d": 8}[layout]
    out = _run(snip, _arm_state(snip, z={1: a.tobytes(), 2: b.tobytes()}, k={1: 0, 2: 0xF0F3 & ((1 << cap) - 1)}))
    got = pred_bytes_to_k(out.p[snip.regmap.k_pred[1]], layout, 512)
    assert got == (0x00FF & 0xF0F3) & ((1 << cap) - 1)


@needs_arm
def test_kortestw_flags_exact():
    snip = lower_snippet(X("kortestw k1, k2"))
    for a, b, zf, cf in ((0, 0, 1, 0), (0xFFFF, 0, 0, 1), (0xFF00, 0x00FF, 0, 1), (0x8000, 0, 0, 0), (1, 1, 0, 0)):
        out = _run(snip, _arm_state(snip, k={1: a, 2: b}, nzcv=0xF0000000))
        n, z, c, v = (out.nzcv >> 31) & 1, (out.nzcv >> 30) & 1, (out.nzcv >> 29) & 1, (out.nzcv >> 28) & 1
        assert (z, c, n, v) == (zf, cf, 0, 0), (a, b, out.nzcv)


# ---------------------------------------------------------------------------------------------
# forms the x86 model does not know yet: numpy reference

@needs_arm
@pytest.mark.parametrize("text", ["vptestmd k1{k2}, zmm1, zmm2", "vptestnmd k1, zmm1, zmm2",
                                  "vptestmq k3, zmm1, zmm2"])
def test_vptestm_and_nzcv_kept(text):
    insn = X(text)
    fin = {"ZF": "Z", "CF": "C", "SF": "N", "OF": "V"}
    snip = lower_snippet(insn, flags_in=fin)
    assert snip.flags_out == fin
    rng = np.random.default_rng(1)
    a = rng.integers(0, 1 << 32, 16, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, 16, dtype=np.uint64).astype(np.uint32)
    b[::3] = 0
    a[1::4] = ~b[1::4]
    q = "q" in insn.mnemonic
    dt = np.uint64 if q else np.uint32
    n = 8 if q else 16
    x = (np.frombuffer(a.tobytes(), dt) & np.frombuffer(b.tobytes(), dt)) != 0
    if "nm" in insn.mnemonic:
        x = ~x
    want = sum(1 << i for i in range(n) if x[i]) & (0xB7ED if insn.mask else 0xFFFF)
    for nzcv in (0x00000000, 0x90000000, 0x60000000):
        out = _run(snip, _arm_state(snip, z={1: a.tobytes(), 2: b.tobytes()}, k={2: 0xB7ED}, nzcv=nzcv))
        dst = insn.ops[0].index
        assert pred_bytes_to_k(out.p[snip.regmap.k_pred[dst]], snip.regmap.layout_of_k(dst), 512) == want
        assert out.nzcv == nzcv


@needs_arm
@pytest.mark.parametrize("text,fn", [
    ("vpmulld zmm1, zmm2, zmm3", lambda a, b: (a.astype(np.int64) * b).astype(np.uint32)),
    ("vpmaxsd zmm1, zmm2, zmm3", lambda a, b: np.maximum(a.view(np.int32), b.view(np.int32)).view(np.uint32)),
    ("vpminsd zmm1{k1}{z}, zmm2, zmm3", lambda a, b: np.minimum(a.view(np.int32), b.view(np.int32)).view(np.uint32)),
    ("vpmaxud zmm1, zmm2, zmm3", np.maximum),
])
def test_int_ops_unmodelled(text, fn):
    insn = X(text)
    snip = lower_snippet(insn)
    rng = np.random.default_rng(2)
    a = rng.integers(0, 1 << 32, 16, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, 16, dtype=np.uint64).astype(np.uint32)
    out = _run(snip, _arm_state(snip, z={2: a.tobytes(), 3: b.tobytes()}, k={1: 0xB7ED}))
    want = fn(a, b).astype(np.uint32)
    if insn.mask:
        want = np.where([(0xB7ED >> i) & 1 for i in range(16)], want, 0).astype(np.uint32)
    assert np.frombuffer(out.z[1], np.uint32).tolist() == want.tolist()


@needs_arm
@pytest.mark.parametrize("text", ["vpslld zmm1, zmm2, xmm3", "vpsrad zmm1{k1}{z}, zmm2, xmm3", "vpsrlq zmm1{k1}, zmm2, xmm3",
                                  "vpsraw zmm1, zmm2, xmm3"])
def test_shift_by_xmm_count(text):
    insn = X(text)
    snip = lower_snippet(insn)
    m = insn.mnemonic
    es = {"w": 2, "d": 4, "q": 8}[m[-1]]
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[es]
    s_ = {2: np.int16, 4: np.int32, 8: np.int64}[es]
    n = 64 // es
    a = np.random.default_rng(3).integers(0, 1 << 63, 64 // 8, dtype=np.uint64).view(u)
    for cnt in (0, 1, 5, 8 * es - 1, 8 * es, 8 * es + 1, 1 << 40, (1 << 64) - 1):
        c = np.zeros(8, np.uint64)
        c[0], c[1] = cnt, 3
        out = _run(snip, _arm_state(snip, z={2: a.tobytes(), 3: c.tobytes(), 1: bytes(range(64))}, k={1: 0xA5A5A5A5}))
        w = 8 * es
        if "sll" in m:
            r = np.zeros(n, u) if cnt >= w else (a << u(cnt)).astype(u)
        elif "srl" in m:
            r = np.zeros(n, u) if cnt >= w else (a >> u(cnt)).astype(u)
        else:
            r = (a.view(s_) >> s_(min(cnt, w - 1))).view(u)
        if insn.mask:
            act = np.array([(0xA5A5A5A5 >> i) & 1 for i in range(n)], bool)
            r = np.where(act, r, 0 if insn.zeroing else np.frombuffer(bytes(range(64)), u)).astype(u)
        assert np.frombuffer(out.z[1], u).tolist() == r.tolist(), cnt


# ---------------------------------------------------------------------------------------------
# the verify harness on a sample of every group (full runs: `x2sve verify --only ...`)

SAMPLE = [r"^vmovups zmm\{k\}\{z\}, m512$", r"^vmovups m512\{k\}, zmm$", r"^vmovdqu8 zmm\{k\}, m512$",
          r"^movups xmm, m128$", r"^vbroadcastss zmm\{k\}, m32$", r"^vpbroadcastb ymm\{k\}\{z\}, r32$",
          r"^vpandnd zmm\{k\}, zmm, zmm$", r"^vpsrad zmm\{k\}\{z\}, m32bcst, imm8$", r"^psrlq xmm, imm8$",
          r"^vcvtps2dq zmm\{k\}, zmm, \{er\}$", r"^cvttps2dq xmm, m128$", r"^vblendmps zmm\{k\}\{z\}, zmm, zmm$",
          r"^kmovq k, m64$", r"^kortestq k, k$", r"^pandn xmm, xmm$"]


@needs_arm
@pytest.mark.parametrize("rx", SAMPLE)
def test_verify_sample(rx):
    from translator.verify.harness import Harness
    forms = enumerate_forms(only=rx)
    assert forms, rx
    h = Harness(states=48)
    for f in forms.values():
        r = h.run_form(f)
        assert not r.skipped, r.skipped
        assert r.mismatches == 0, r.failures[:1]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"] + sys.argv[1:]))
