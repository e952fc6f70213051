"""The x86 model against this host's CPU on directed states the random campaign reaches rarely.

The full campaign (``python -m translator conformance --states 200``, docs/conformance.md) found
no disagreement; these sweeps pin the corners it samples thinly:

* integer/GPR forms: every register from a dense edge set (0, 1, width boundaries, INT_MIN/MAX,
  all-ones, ...), CL = 0..69 for shifts, RFLAGS patterns in;
* FP forms: every MXCSR.RC x {DAZ, FZ} combination.

A disagreement fixed in the model gets its own case below (none so far).
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from translator.ir import GPR64
from translator.oracles import native as _native
from translator.verify import states as S
from translator.verify.conformance import Executors, compare, run_model
from translator.verify.forms import enumerate_forms

pytestmark = pytest.mark.skipif(not (_native.available() and _native.has_avx512()),
                                reason="needs an x86-64 host with AVX-512F/BW")

EDGE = [0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000,
        0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF,
        0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0x8000000000000001]


def _run(only: str, n: int, tweak) -> tuple[int, list[str]]:
    forms = enumerate_forms(seed=3, only=only)
    assert forms, only
    r = random.Random(5)
    rng = np.random.default_rng(5)
    cases = []
    ex = Executors("native")
    for name, f in forms.items():
        for j, st in enumerate(S.random_states(rng, n, S.lane_kind(f.entry), S.is_fp(f.entry))):
            inst = f.instances[j % len(f.instances)]
            insn = inst.insn
            if insn.flow != "next" or insn.mnemonic in ("push", "pop"):
                continue
            tweak(st, j, r)
            S.place_memory(st, insn, r, getattr(inst, "align", 1))
            m = run_model(insn, st)
            if type(m).__name__ == "Unmodelled" or ex.choose(insn)[0] != "native":
                continue                     # an immediate no rule claims / no executor
            cases.append((insn, st, m))
    try:
        out = ex.run("native", [c[0].raw for c in cases], [c[1] for c in cases])
    finally:
        ex.close()
    bad = []
    for (insn, st, m), o in zip(cases, out):
        v = compare(insn, st, m, o)
        if v.kind != "agree" and v.kind != "skip":
            bad.append(f"{insn.text}: {v.kind} {v.diff}")
    return len(cases), bad


def _gpr_edges(st, j, r):
    for g in GPR64:
        if g != "rsp":
            st.gpr[g] = r.choice(EDGE) if r.random() < 0.8 else r.getrandbits(64)
    st.gpr["rcx"] = (st.gpr["rcx"] & ~0xFF) | (j % 70)          # every shift count, masked or not
    st.rflags = 0x2 | r.choice([0, 0x8D5, 0x1, 0x800, 0x40, 0x4, 0x10, 0x80])


def _mxcsr_all(st, j, r):
    st.mxcsr = 0x1F80 | (j % 4) << 13 | (0, 0x40, 0x8000, 0x8040)[(j // 4) % 4]


def test_gpr_forms_on_edge_values_and_every_shift_count():
    n, bad = _run(r"^(shl|shr|sar|sal|imul|add|sub|cmp|inc|dec|neg|and|or|xor|test|movsx|movzx"
                  r"|cmov[a-z]+|set[a-z]+) ", 40, _gpr_edges)
    assert n > 5000 and not bad, bad[:5]


def test_fp_forms_under_every_rounding_mode_daz_and_fz():
    n, bad = _run(r"^v?(add|sub|mul|div|sqrt|min|max|round|fn?m(add|sub)[0-9]+|cvt|cvtt)"
                  r"(p|s)[sd]?[a-z0-9]* [xyz]mm(, [xyz]mm)*(, [xyz]mm|, m(32|64|128|256|512))?$", 16,
                  _mxcsr_all)
    assert n > 1000 and not bad, bad[:5]
