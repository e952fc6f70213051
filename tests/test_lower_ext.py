"""Lowering of the extension tables (int_mul, shuffle, widen_narrow, fp_more) checked end to end:
x86 model (``translator.verify.x86model``) vs. the SVE translation run in unicorn, on random
edge-heavy states, bit for bit; plus the model handlers of ``x86model/ext.py`` against this host's
CPU where it has AVX-512 (``NativeRunner``).

Run ``python tests/test_lower_ext.py FORM...`` for a quick report on single forms.
"""
from __future__ import annotations

import os
import random
import sys
import zlib

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_x86_model_util import HAVE_AS, asm, rand_state  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.ir import GPR64, KReg, Vec  # noqa: E402
from translator.lower import Unsupported, lower_snippet  # noqa: E402
from translator.lower.regmap import GPR_TO_X, X_CTX, k_to_pred_bytes, pred_bytes_to_k  # noqa: E402
from translator.verify.state import ArmState, X86State  # noqa: E402
from translator.verify.x86_model import X86Fault, execute_ex  # noqa: E402

try:
    from translator.encode import assemble
    from translator.verify.arm_exec import SCRATCH_BASE, ArmRunner
    _RUNNER = None
    HAVE_ARM = True
except Exception:                                   # pragma: no cover
    HAVE_ARM = False

N = int(os.environ.get("X2SVE_EXT_STATES", "60"))


def _runner():
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = ArmRunner(512)
    return _RUNNER


def to_arm(s: X86State, snip, vl: int = 512) -> ArmState:
    a = ArmState(vl)
    a.z = [z[: vl // 8] for z in s.zmm]
    a.p = [bytes(vl // 64)] * 16
    for k, p in snip.regmap.k_pred.items():
        a.p[p] = k_to_pred_bytes(s.k[k], snip.regmap.layout_of_k(k), vl)
    for name, x in GPR_TO_X.items():
        a.x[x] = s.gpr[name]
    a.x[X_CTX] = SCRATCH_BASE
    a.mem_base, a.mem = s.mem_base, s.mem
    a.fpcr = ((s.mxcsr >> 13) & 3) and ({1: 2, 2: 1, 3: 3}[(s.mxcsr >> 13) & 3] << 22)
    return a


def check_form(text: str, n: int = N, seed: int | None = None, states=None) -> list[str]:
    """Run one x86 instruction (Intel syntax) through model and translation; return mismatches."""
    code = asm(text)
    insn = decode_one(code)
    snip = lower_snippet(insn)
    arm_code = assemble(snip.lines)
    rng = random.Random(zlib.crc32(text.encode()) if seed is None else seed)
    if states is None:
        states = [rand_state(rng, mxcsr_random=False) for _ in range(n)]
    used_z = {op.index for op in insn.ops if isinstance(op, Vec)}
    errs: list[str] = []
    for j, s in enumerate(states):
        try:
            mod, _ = execute_ex(insn, s)
        except X86Fault:
            continue
        a = to_arm(s, snip)
        out = _runner().run(arm_code, a)
        for i in used_z:
            if out.z[i] != mod.zmm[i]:
                errs.append(f"{text} state {j}: zmm{i}\n  x86 {mod.zmm[i].hex()}\n  arm {out.z[i].hex()}\n"
                            f"  in  " + "\n  in  ".join(f"zmm{q} {s.zmm[q].hex()}" for q in sorted(used_z)))
        for op in insn.ops:
            if isinstance(op, KReg) and op.index in snip.regmap.k_pred:
                got = pred_bytes_to_k(out.p[snip.regmap.k_pred[op.index]], snip.regmap.layout_of_k(op.index), 512)
                if got != mod.k[op.index]:
                    errs.append(f"{text} state {j}: k{op.index} x86 {mod.k[op.index]:#x} arm {got:#x}")
        for name, x in GPR_TO_X.items():
            if name != "rsp" and out.x[x] != mod.gpr[name]:
                errs.append(f"{text} state {j}: {name} x86 {mod.gpr[name]:#x} arm {out.x[x]:#x}")
        if out.mem != mod.mem:
            d = [i for i in range(len(out.mem)) if out.mem[i] != mod.mem[i]]
            errs.append(f"{text} state {j}: memory differs at offsets {d[:8]}...")
        if len(errs) > 5:
            break
    return errs


# ---------------------------------------------------------------------------------------------
# the extension tables under the verify harness (x86 model vs SVE in unicorn, flags included)

EXT_TABLES = ("int_mul.yaml", "shuffle.yaml", "widen_narrow.yaml", "fp_more.yaml")


def _ext_mnemonics() -> list[str]:
    from translator.lower.tables import default_tables
    t = default_tables()
    return sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith(EXT_TABLES))


def _harness(vl: int = 512, states: int = 16):
    from translator.verify.harness import Harness
    return Harness(vl=vl, states=states, max_failures=2)


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("mnemonic", _ext_mnemonics() if HAVE_ARM else [])
def test_ext_tables_verify(mnemonic):
    """Every form of every mnemonic of the extension tables: 0 mismatches, nothing skipped."""
    import re as _re
    from translator.verify.forms import enumerate_forms
    forms = enumerate_forms(seed=1, only=f"^{_re.escape(mnemonic)} ")
    assert forms, mnemonic
    h = _harness()
    bad = []
    for f in forms.values():
        r = h.run_form(f, 16)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad


# immediate-controlled forms: every immediate a rule claims, through the harness
IMM_FORMS = []
_SHUFPS_PAIRS = [(0, 1), (2, 3), (1, 0), (3, 2), (0, 0), (1, 1), (2, 2), (3, 3)]
_SHUFPS_IMMS = [a | b << 2 | c << 4 | d << 6 for a, b in _SHUFPS_PAIRS for c, d in _SHUFPS_PAIRS]
IMM_FORMS += [("vshufps ymm1, ymm2, ymm3, {i}", i) for i in _SHUFPS_IMMS]
IMM_FORMS += [("vshufps zmm1{{k1}}, zmm2, zmmword ptr [rax], {i}", i) for i in (0x00, 0x44, 0xee, 0x4e, 0xb1, 0xe4)]
IMM_FORMS += [("shufps xmm1, xmm2, {i}", i) for i in (0x00, 0x44, 0xee, 0x4e, 0xb1, 0xe4, 0x1b & 0 | 0xa0)]
IMM_FORMS += [("vperm2f128 ymm1, ymm2, ymm3, {i}", i) for i in range(256) if not i & 0x44]
IMM_FORMS += [("vperm2i128 ymm1, ymm2, ymmword ptr [rax], {i}", i) for i in (0x20, 0x31, 0x01, 0x13, 0x88)]
IMM_FORMS += [("vpermq ymm1, ymm2, {i}", i) for i in (0x00, 0x08, 0x0e, 0x1b, 0x39, 0x44, 0x4e, 0x50, 0x55, 0x58, 0x88,
                                                     0x93, 0xa0, 0xaa, 0xb1, 0xd8, 0xdd, 0xe4, 0xee, 0xf5, 0xfa, 0xff)]
IMM_FORMS += [("vpermpd zmm1{{k1}}{{z}}, zmm2, {i}", i) for i in (0x4e, 0xb1, 0x58)]
IMM_FORMS += [("vpinsrb xmm1, xmm2, ecx, {i}", i) for i in range(17)]
IMM_FORMS += [("pinsrb xmm1, byte ptr [rax+3], {i}", i) for i in range(16)]
IMM_FORMS += [("vpinsrw xmm1, xmm2, word ptr [rax], {i}", i) for i in range(9)]
IMM_FORMS += [("vpinsrd xmm1, xmm2, dword ptr [rax], {i}", i) for i in range(5)] + [("pinsrd xmm1, ecx, 3", 3)]
IMM_FORMS += [("vpinsrq xmm1, xmm2, rcx, {i}", i) for i in range(3)]
IMM_FORMS += [("vrndscaleps zmm1{{k1}}, zmm2, {i}", i) for i in range(16)]
IMM_FORMS += [("vroundps ymm1, ymm2, {i}", i) for i in range(16)] + [("roundps xmm1, xmm2, {i}", i) for i in range(16)]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("text,imm", IMM_FORMS)
def test_ext_imm_forms(text, imm):
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    line = text.format(i=imm)
    raw = asm(line)
    insn = decode_one(raw, INSN_ADDRESS)
    f = Form(insn.form + f" imm={imm:#x}", default_tables().entry_for(insn.mnemonic), insn.mnemonic,
             [Instance(raw, insn)])
    r = _harness().run_form(f, 24)
    assert not r.skipped and r.mismatches == 0, (line, r.skipped, r.failures[:1])


# ---------------------------------------------------------------------------------------------
# model handlers of x86model/ext.py against this host's CPU

try:
    from translator.oracles import native as _native
    HAVE_NATIVE = _native.available() and _native.has_avx512()
except Exception:                                   # pragma: no cover
    HAVE_NATIVE = False

NATIVE_FORMS: list[str] = []
for _p in ("", "v"):
    _x = "xmm1, xmm2" if not _p else "xmm1, xmm2, xmm3"
    NATIVE_FORMS += [f"{_p}pmaddwd {_x}", f"{_p}pmaddubsw {_x}", f"{_p}pshufb {_x}", f"{_p}phaddw {_x}",
                     f"{_p}phaddd {_x}", f"{_p}unpcklps {_x}", f"{_p}unpckhps {_x}", f"{_p}punpcklbw {_x}",
                     f"{_p}punpckldq {_x}", f"{_p}punpckhqdq {_x}", f"{_p}punpcklwd {_x}", f"{_p}punpckhbw {_x}",
                     f"{_p}shufps {_x}, 0x1b", f"{_p}shufpd {_x}, 1"]
NATIVE_FORMS += ["pmaddwd xmm1, xmmword ptr [rax]", "vpmaddwd zmm1, zmm2, zmm3", "vpmaddwd zmm1{k1}{z}, zmm2, zmmword ptr [rax]",
                 "vpmaddwd ymm1, ymm2, ymm3", "vpmaddwd ymm17{k2}, ymm18, ymm19", "vpmaddubsw zmm1, zmm2, zmm3",
                 "vpmaddubsw zmm1{k1}, zmm2, zmmword ptr [rbx+64]", "vpmaddubsw ymm1, ymm2, ymm3",
                 "vpmaddubsw xmm1{k3}{z}, xmm2, xmm3", "pmaddubsw xmm1, xmmword ptr [rax]",
                 "vpinsrd xmm1, xmm2, dword ptr [rax], 2", "vpinsrd xmm1, xmm2, ecx, 7", "pinsrd xmm1, ecx, 1",
                 "vpinsrb xmm1, xmm2, byte ptr [rax+3], 15", "pinsrb xmm1, ecx, 5", "pinsrw xmm1, ecx, 3",
                 "vpinsrw xmm1, xmm2, word ptr [rax], 9", "vpinsrq xmm20, xmm21, rcx, 1", "pinsrq xmm1, qword ptr [rax], 0",
                 "vpinsrd xmm20, xmm21, dword ptr [rax], 3"]
for _s in ("s", "z"):
    for _t in ("bw", "bd", "bq", "wd", "wq", "dq"):
        _zs = "ymm2" if _t in ("bw", "wd", "dq") else "xmm2"
        NATIVE_FORMS += [f"vpmov{_s}x{_t} zmm1, {_zs}", f"vpmov{_s}x{_t} zmm1{{k1}}{{z}}, {_zs}", f"pmov{_s}x{_t} xmm1, xmm2",
                         f"vpmov{_s}x{_t} ymm1, xmm2", f"vpmov{_s}x{_t} xmm1{{k2}}, xmm2"]
    NATIVE_FORMS += [f"vpmov{_s}xbd zmm1, xmmword ptr [rax]", f"vpmov{_s}xbd zmm1{{k1}}, xmmword ptr [rax+3]",
                     f"vpmov{_s}xwd zmm1{{k1}}{{z}}, ymmword ptr [rbx]", f"vpmov{_s}xbd ymm1, qword ptr [rax]",
                     f"pmov{_s}xbw xmm1, qword ptr [rax]", f"vpmov{_s}xbw zmm1, ymmword ptr [rax]"]
for _sat in ("", "s", "us"):
    for _t in ("qb", "qw", "qd", "db", "dw", "wb"):
        NATIVE_FORMS += [f"vpmov{_sat}{_t} xmm1, zmm2" if _t in ("qb", "qw", "db") else f"vpmov{_sat}{_t} ymm1, zmm2",
                         f"vpmov{_sat}{_t} xmm1{{k1}}, ymm2", f"vpmov{_sat}{_t} xmm1{{k1}}{{z}}, xmm2"]
    NATIVE_FORMS += [f"vpmov{_sat}db xmmword ptr [rax], zmm2", f"vpmov{_sat}db xmmword ptr [rax+5]{{k1}}, zmm2",
                     f"vpmov{_sat}dw ymmword ptr [rbx]{{k2}}, zmm3", f"vpmov{_sat}dw qword ptr [rax], xmm3"]
NATIVE_FORMS += ["vshufps zmm1, zmm2, zmm3, 0x4e", "vshufps zmm1{k1}{z}, zmm2, dword ptr [rax]{1to16}, 0xb1",
                 "vshufps ymm1, ymm2, ymm3, 0x88", "vshufps ymm1{k1}, ymm2, ymmword ptr [rax], 0xdd",
                 "vunpcklps ymm1, ymm2, ymm3", "vunpckhps ymm1, ymm2, ymmword ptr [rax]",
                 "vunpcklps zmm1{k1}, zmm2, zmm3", "vunpckhps zmm1{k1}{z}, zmm2, dword ptr [rax]{1to16}",
                 "vunpcklpd zmm1, zmm2, zmm3", "vpunpckldq zmm1{k2}, zmm2, zmm3", "vpunpcklbw ymm1, ymm2, ymm3",
                 "pshufd xmm1, xmm2, 0x1b", "vpshufd ymm1, ymm2, 0x4e", "vpshufd zmm1{k1}, zmm2, 0xb1",
                 "vpshufb ymm1, ymm2, ymmword ptr [rax]", "vpshufb ymm1, ymm2, ymm3", "vpshufb zmm1{k1}{z}, zmm2, zmm3",
                 "vphaddd ymm1, ymm2, ymm3", "vphaddw ymm1, ymm2, ymm3"]
NATIVE_FORMS += [f"vperm2f128 ymm1, ymm2, ymm3, {_i:#x}" for _i in (0x20, 0x31, 0x02, 0x13, 0x08, 0x80, 0x88, 0x21, 0x12, 0x3a)]
NATIVE_FORMS += ["vperm2i128 ymm1, ymm2, ymmword ptr [rax], 0x31", "vperm2f128 ymm1, ymm2, ymmword ptr [rax], 0x20"]
NATIVE_FORMS += [f"vshuff32x4 zmm1, zmm2, zmm3, {_i:#x}" for _i in (0x44, 0xee, 0x4e, 0x1b, 0xe4)]
NATIVE_FORMS += ["vshuff32x4 zmm1{k1}{z}, zmm2, zmmword ptr [rax], 0x88", "vshufi32x4 ymm1{k2}, ymm2, ymm3, 1",
                 "vshuff64x2 zmm1{k1}, zmm2, qword ptr [rax]{1to8}, 0x4e", "vshuff32x4 ymm1, ymm2, ymm3, 2",
                 "vshufi64x2 zmm1, zmm2, zmm3, 0xd8"]
NATIVE_FORMS += ["vpermd zmm1, zmm2, zmm3", "vpermps zmm1{k1}{z}, zmm2, zmmword ptr [rax]", "vpermps ymm1, ymm2, ymm3",
                 "vpermd ymm1{k1}, ymm2, dword ptr [rax]{1to8}", "vpermq ymm1, ymm2, 0x4e", "vpermq zmm1{k1}, zmm2, 0x1b",
                 "vpermq ymm1, ymmword ptr [rax], 0xd8", "vpermpd zmm1, zmm2, zmm3", "vpermw zmm1, zmm2, zmm3",
                 "vpermq zmm1{k2}{z}, zmm2, zmm3"]
for _ov in ("t", "i"):
    NATIVE_FORMS += [f"vperm{_ov}2ps zmm1, zmm2, zmm3", f"vperm{_ov}2ps zmm1{{k1}}, zmm2, zmmword ptr [rax]",
                     f"vperm{_ov}2d zmm1{{k1}}{{z}}, zmm2, dword ptr [rax]{{1to16}}", f"vperm{_ov}2ps ymm1, ymm2, ymm3",
                     f"vperm{_ov}2ps xmm1{{k2}}, xmm2, xmm3", f"vperm{_ov}2q zmm1, zmm2, zmm3", f"vperm{_ov}2w zmm1, zmm2, zmm3",
                     f"vperm{_ov}2pd ymm1{{k1}}, ymm2, ymm3"]
NATIVE_FORMS += [f"vrndscaleps zmm1, zmm2, {_i}" for _i in range(16)]
NATIVE_FORMS += ["vrndscaleps zmm1{k1}{z}, zmmword ptr [rax], 9", "vrndscaleps ymm1{k1}, dword ptr [rax]{1to8}, 2",
                 "vrndscaleps xmm1, xmm2, 3", "vrndscaleps zmm1, zmm2, {sae}, 1", "roundps xmm1, xmm2, 1",
                 "vroundps ymm1, ymm2, 4", "vroundps ymm1, ymmword ptr [rax], 10", "roundps xmm1, xmm2, 12"]


def _native_compare(form_text, insn, s, nat, note):
    from translator.verify.x86model.fp import FpEnv
    try:
        mod, undef = execute_ex(insn, s)
    except X86Fault:
        assert not hasattr(nat, "zmm"), f"{form_text}: model faults, CPU does not"
        return
    assert hasattr(nat, "zmm"), f"{form_text}: CPU faulted ({nat}), model did not"
    where = f"{form_text} [{note}]"
    for i in range(32):
        assert mod.zmm[i] == nat.zmm[i], f"{where}: zmm{i}\n model {mod.zmm[i].hex()}\n cpu   {nat.zmm[i].hex()}"
    assert mod.k == nat.k, f"{where}: k"
    for r, v in nat.gpr.items():
        if r != "rsp":
            assert mod.gpr[r] == v, f"{where}: {r} {mod.gpr[r]:#x} vs {v:#x}"
    assert mod.mxcsr == nat.mxcsr, f"{where}: mxcsr {mod.mxcsr:#x} vs {nat.mxcsr:#x}"
    assert mod.mem == nat.mem, f"{where}: memory differs"



@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    check_model_native(form, native_runner, 0x5A5A)


def check_model_native(form: str, runner, salt: int, n: int = N) -> None:
    """The model against this CPU on ``n`` random states of one instruction."""
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()) ^ salt)
    states = [rand_state(rng) for _ in range(n)]
    for j, (s, o) in enumerate(zip(states, runner.run_many(code, states))):
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
