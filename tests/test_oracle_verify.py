"""``x2sve verify --oracle native|bochs`` (translator/verify/oracle.py): a real x86 executor as the
x86 side of the differential test.

* everywhere: stand-in executors check the plumbing (one batch per form, results compared,
  mismatches found, #UD/timeouts fall back to the model with a note, control flow and the stack
  never go to the executor);
* AVX-512 host: ~20 diverse forms (FP with NaN states, {k}/{z}, {er}/{sae}, GPR flags, k masks)
  x 16 states through the command line with ``--oracle native``;
* bochs installed: 5 EVEX forms in one bochs boot.
"""
from __future__ import annotations

import json
import re

import pytest

from translator.oracles import bochs as _bochs
from translator.oracles import native as _native
from translator.oracles.common import ExceptionResult
from translator.verify import x86_model as model
from translator.verify.cli import add_verify_arguments, run_verify
from translator.verify.forms import enumerate_forms
from translator.verify.oracle import MXCSR_NOTE, OracleHarness, fallback_reason

NATIVE_FORMS = [
    "vaddps zmm{k}{z}, zmm, m32bcst", "vdivps ymm, ymm, ymm", "vfmadd231ps zmm{k}, zmm, zmm, {er}",
    "vmaxps xmm, xmm, m128", "vminps zmm{k}, zmm, zmm, {sae}", "vcmpps k{k}, zmm, zmm, imm8",
    "vcvtps2dq zmm{k}{z}, zmm, {er}", "addss xmm, xmm", "vfixupimmps zmm{k}, zmm, m32bcst, imm8",
    "vpaddd zmm{k}, zmm, m512", "vpermt2d zmm{k}{z}, zmm, zmm", "vpsraq zmm{k}, zmm, imm8",
    "kandw k, k, k", "kortestw k, k", "add r64, m64", "shl r32, r8", "imul r16, r16, imm8",
    "sete r8", "cmovne r32, m32", "push r64", "jne",
]
BOCHS_FORMS = ["vaddps zmm{k}, zmm, zmm", "vpaddd zmm{k}{z}, zmm, m512", "vcmpps k{k}, zmm, zmm, imm8",
               "vpermt2d zmm{k}{z}, zmm, zmm", "vfmadd213ps zmm{k}, zmm, m32bcst"]


def _only(names):
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


def _forms(names):
    fs = enumerate_forms(seed=0, only=_only(names))
    assert set(fs) == set(names), set(names) - set(fs)
    return [fs[n] for n in names]


def _verify(capsys, *argv):
    import argparse
    p = add_verify_arguments(argparse.ArgumentParser())
    rc = run_verify(p.parse_args(list(argv)))
    return rc, json.loads(capsys.readouterr().out)


# ---- stand-in executors (any host) -------------------------------------------------------------
class FakeExecutors:
    """Runs the model as the 'executor'; ``mutate(i, state)`` may corrupt result i."""

    def __init__(self, mutate=None, name="native"):
        self.mutate = mutate
        self.name = name
        self.calls = []

    def choose(self, insn):
        return self.name, ""

    def close(self):
        pass


class ModelExecutors(FakeExecutors):
    def run(self, name, codes, states):
        from translator.decode import decode_one
        from translator.verify.forms import INSN_ADDRESS
        self.calls.append(len(states))
        out = []
        for i, (c, st) in enumerate(zip(codes, states)):
            insn = decode_one(c, INSN_ADDRESS)
            try:
                o = model.execute(insn, st)
            except model.X86Fault as f:
                o = ExceptionResult.from_vector({"#GP": 13, "#PF": 14, "#DE": 0}.get(f.kind, 13))
            out.append(self.mutate(i, o) if self.mutate else o)
        return out


def test_fake_executor_agrees_one_batch_per_form():
    forms = _forms(["vaddps zmm{k}{z}, zmm, m32bcst", "add r64, m64", "kandw k, k, k"])
    ex = ModelExecutors()
    h = OracleHarness("native", executors=ex, states=12)
    res = [h.run_form(f) for f in forms]
    assert ex.calls == [12, 12, 12]                    # one executor batch per form
    for r in res:
        assert r.skipped is None and r.states == 12 and r.mismatches == 0, r
        assert r.x86_side == {"native": 12}
        assert r.model_differs == 0 and r.oracle == "native"
    ex.calls.clear()
    res = h.run_forms(forms)                           # several forms: still one batch
    assert ex.calls == [36] and all(r.mismatches == 0 for r in res)


def test_fake_executor_corruption_is_a_mismatch():
    def flip(i, o):
        if isinstance(o, ExceptionResult):
            return o
        o = o.copy()
        z = bytearray(o.zmm[3])
        z[0] ^= 1
        o.zmm[3] = bytes(z)
        o.gpr["rbx"] ^= 1
        return o
    f = _forms(["vdivps ymm, ymm, ymm"])[0]
    h = OracleHarness("native", executors=ModelExecutors(flip), states=8)
    r = h.run_form(f)
    assert r.mismatches == 8 and r.failures
    assert r.failures[0]["x86_side"] == "native"
    assert "--oracle native" in r.failures[0]["reproduce"]
    assert r.model_differs == 8 and any("model differs from native" in n for n in r.notes)


def test_executor_ud_and_timeout_fall_back_with_a_note():
    def bad(i, o):
        return ExceptionResult.from_vector(6) if i % 2 else ExceptionResult(None, "timeout")
    f = _forms(["vpaddd zmm{k}, zmm, m512"])[0]
    r = OracleHarness("native", executors=ModelExecutors(bad), states=8).run_form(f)
    assert r.mismatches == 0 and r.states == 8
    assert r.x86_side == {"model": 8}
    assert any("x86 side: model for 8 of 8" in n and "#UD" in n and "timeout" in n for n in r.notes)


def test_control_flow_and_stack_never_reach_the_executor():
    forms = _forms(["jne", "push r64"])
    ex = ModelExecutors()
    res = OracleHarness("native", executors=ex, states=8).run_forms(forms)
    assert ex.calls == []
    for r in res:
        assert r.mismatches == 0 and r.x86_side == {"model": 8}
        assert any(n.startswith("x86 side: model") for n in r.notes)
    assert "control flow" in fallback_reason(forms[0].instances[0].insn)
    assert "stack" in fallback_reason(forms[1].instances[0].insn)


def test_no_executor_for_the_extension_falls_back():
    class NoExec(ModelExecutors):
        def choose(self, insn):
            return None, "host lacks AVX512F"
    f = _forms(["vaddps zmm{k}{z}, zmm, m32bcst"])[0]
    ex = NoExec()
    r = OracleHarness("native", executors=ex, states=6).run_form(f)
    assert ex.calls == [] and r.mismatches == 0 and r.x86_side == {"model": 6}
    assert any("host lacks AVX512F" in n for n in r.notes)


def test_oracle_model_is_the_default(capsys):
    rc, out = _verify(capsys, "--states", "4", "--only", _only(["addss xmm, xmm"]), "--json")
    assert rc == 0 and out["oracle"] == "model" and "x86_side" not in out["per_form"][0]


# ---- the real executors -------------------------------------------------------------------------
needs_avx512 = pytest.mark.skipif(not (_native.available() and _native.has_avx512()),
                                  reason="needs an x86-64 host with AVX-512F/BW")


@needs_avx512
def test_native_oracle_sample(capsys):
    rc, out = _verify(capsys, "--oracle", "native", "--states", "16", "--only", _only(NATIVE_FORMS),
                      "--json")
    assert out["failures"] == [] and rc == 0, out["failures"][:2]
    assert out["oracle"] == "native" and out["mxcsr"] == MXCSR_NOTE
    per = {p["form"]: p for p in out["per_form"]}
    assert set(per) == set(NATIVE_FORMS)
    for name, p in per.items():
        assert p["states"] == 16, p
        if name in ("push r64", "jne"):
            assert p["x86_side"] == {"model": 16}
        else:
            assert p["x86_side"] == {"native": 16}, p
            assert p["model_differs"] == 0, p


@pytest.mark.skipif(not _bochs.available(), reason="bochs not installed")
def test_bochs_oracle_one_boot():
    forms = _forms(BOCHS_FORMS)
    with OracleHarness("bochs", states=16) as h:
        boots = []
        from translator.oracles.bochs import BochsRunner
        real = BochsRunner._run_batch

        def counting(self, codes, states):
            boots.append(len(states))
            return real(self, codes, states)
        BochsRunner._run_batch = counting
        try:
            res = h.run_forms(forms)
        finally:
            BochsRunner._run_batch = real
    assert boots == [16 * len(forms)]
    for r in res:
        assert r.skipped is None and r.mismatches == 0 and r.states == 16, (r.form, r.failures[:1])
        assert r.x86_side == {"bochs": 16}, r
