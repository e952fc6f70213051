"""mapping_tables/masks_more.yaml (kshift/kadd/kunpck, vpmovm2*/vpmov*2m, vpbroadcastm*,
compress/expand, scatters, vpopcnt*/vplzcnt*) end to end: the exact SVE of the main forms, every
form of the table against the x86 model on unicorn (VL 512 and 1024), every kshift immediate,
compress/expand and scatters with edge masks (none / all / one element active), and the model
handlers of ``x86model/ext11.py`` against this host's CPU (AVX-512 hosts only).
"""
from __future__ import annotations

import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_x86_model_util import HAVE_AS, asm  # noqa: E402
from test_lower_ext import HAVE_ARM, HAVE_NATIVE, check_model_native  # noqa: E402

from translator.decode import decode_one  # noqa: E402
from translator.lower import lower_snippet  # noqa: E402

TABLE = "masks_more.yaml"
ONLY = (r"^(kshift|kadd|kunpck|vpmovm2|vpmov[bwdq]2m |vpbroadcastm|vpcompress|vcompress|vpexpand"
        r"|vexpand|vpscatter|vscatter|vpopcnt|vplzcnt)")


def _mnemonics() -> list[str]:
    from translator.lower.tables import default_tables
    t = default_tables()
    return sorted(m for m, e in t.entries.items() if e.where.split(":")[0].endswith(TABLE))


def _body(text: str, vl: int = 512) -> list[str]:
    return lower_snippet(decode_one(asm(text)), vl=vl).body


def test_masks_more_has_entries():
    ms = set(_mnemonics())
    want = ({f"kshift{d}{t}" for d in "lr" for t in "bwdq"} | {f"kadd{t}" for t in "bwdq"}
            | {"kunpckbw", "kunpckwd", "kunpckdq"} | {f"vpmovm2{t}" for t in "bwdq"}
            | {f"vpmov{t}2m" for t in "bwdq"} | {"vpbroadcastmw2d", "vpbroadcastmb2q"}
            | {"vpcompressd", "vpcompressq", "vcompressps", "vcompresspd", "vpexpandd", "vpexpandq",
               "vexpandps", "vexpandpd"}
            | {f"vpscatter{x}" for x in ("dd", "dq", "qd", "qq")} | {f"vscatter{x}" for x in ("dps", "dpd", "qps", "qpd")}
            | {f"vpopcnt{t}" for t in "bwdq"} | {"vplzcntd", "vplzcntq"})
    assert want <= ms, sorted(want - ms)


@pytest.mark.skipif(not HAVE_AS, reason="needs GNU as")
def test_lowering_text():
    assert _body("vpmovm2d zmm1, k1") == ["mov z1.s, p8/z, #-1"]
    assert _body("vpmovd2m k1, zmm2") == ["cmplt p8.s, p0/z, z2.s, #0"]
    assert _body("kshiftlw k1, k2, 16") == ["pfalse p8.b"]
    assert _body("kshiftrq k1, k2, 5") == ["str p9, [x28]", "ldr x16, [x28]", "lsr x16, x16, #5", "str x16, [x28]",
                                           "ldr p1, [x28]", "ptrue p2.b, vl64", "and p8.b, p2/z, p1.b, p1.b"]
    assert _body("vpcompressd zmm1{k1}{z}, zmm2") == ["compact z1.s, p1, z2.s"]
    assert _body("vpcompressd zmm1{k1}, zmm2") == ["compact z31.s, p1, z2.s", "cntp x16, p1, p1.s",
                                                   "whilelo p2.s, xzr, x16", "mov z1.s, p2/m, z31.s"]
    assert _body("vpcompressq [rdi]{k1}, zmm2") == ["compact z31.d, p1, z2.d", "cntp x16, p1, p1.d",
                                                    "whilelo p2.d, xzr, x16", "st1d {z31.d}, p2, [x0]"]
    assert _body("vpexpandd zmm1{k1}{z}, zmm2") == [
        "cntp x16, p1, p1.s", "whilelo p2.s, xzr, x16", "index z31.s, #0, #1", "compact z31.s, p1, z31.s",
        "st1w {z2.s}, p2, [x28, z31.s, uxtw #2]", "ld1w {z1.s}, p1/z, [x28]"]
    assert _body("vpscatterdd [rdi+zmm3*4]{k1}, zmm2") == ["st1w {z2.s}, p1, [x0, z3.s, sxtw #2]", "pfalse p1.b"]
    assert _body("vscatterqpd [rdi+zmm3*8+64]{k2}, zmm4") == ["add x16, x0, #64", "st1d {z4.d}, p1, [x16, z3.d, lsl #3]",
                                                            "pfalse p1.b"]
    assert _body("vpopcntd zmm1, zmm2") == ["cnt z1.s, p0/m, z2.s"]


@pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn")
@pytest.mark.parametrize("vl", [512, 1024])
def test_every_form_verifies(vl):
    """Every form of masks_more.yaml: 0 mismatches, none skipped (few states, to stay fast)."""
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    forms = enumerate_forms(seed=7, only=ONLY)
    assert len(forms) >= 345
    h = Harness(vl=vl, states=8, max_failures=1)
    bad = []
    for f in forms.values():
        r = h.run_form(f, 8)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    assert not bad, bad


def _run_states(text: str, states: list) -> list:
    """The harness on chosen states of one instruction (not random ones): failures."""
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    from translator.verify.harness import FormResult, Harness
    raw = asm(text)
    insn = decode_one(raw, INSN_ADDRESS)
    f = Form(insn.form, default_tables().entry_for(insn.mnemonic), insn.mnemonic, [Instance(raw, insn)])
    h = Harness(states=len(states), max_failures=3)
    res = FormResult(f.name, f.entry.name, f.mnemonic)
    preps, _, _ = h.prepare(f)
    assert preps, text
    import numpy as np
    rng, r = np.random.default_rng(1), random.Random(1)
    bad = []
    for j, st in enumerate(states):
        for fin, snip, code, lines in preps[0].variants:
            out = h._one(j, st.copy(), preps[0], fin, snip, code, lines, rng, r, None, res)
            if out not in (None, "excluded"):
                bad.append((text, j, out))
    return bad


EDGE_K = [0, 1, 0x8000, 0xFFFF, 0x5555, 0xAAAA, 0x8001, 0xFF]


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("text", ["vpcompressd zmm1{k1}, zmm2", "vcompresspd zmm1{k1}{z}, zmm1",
                                  "vpcompressd [rsi+8]{k1}, zmm2", "vcompressps [rsi]{k1}, ymm2",
                                  "vpexpandq zmm1{k1}, zmm2", "vexpandps zmm1{k1}{z}, [rsi+4]",
                                  "vpexpandd ymm1{k1}, ymm1", "vpscatterdd [rsi+zmm3*2]{k1}, zmm2",
                                  "vscatterqps [rsi+zmm3*1]{k1}, ymm2"])
def test_edge_masks(text):
    """No, all, the first / last and alternate elements active."""
    from translator.verify.states import random_states
    import numpy as np
    sts = random_states(np.random.default_rng(5), len(EDGE_K), "s", False)
    for st, k in zip(sts, EDGE_K):
        st.k[1] = k
    assert not _run_states(text, sts)


@pytest.mark.skipif(not (HAVE_AS and HAVE_ARM), reason="needs GNU as and unicorn")
@pytest.mark.parametrize("mn", ["kshiftlw", "kshiftrb", "kshiftld", "kshiftrq"])
def test_kshift_every_immediate(mn):
    from translator.lower.tables import default_tables
    from translator.verify.forms import INSN_ADDRESS, Form, Instance
    from translator.verify.harness import Harness
    h = Harness(states=2, max_failures=1)
    bad = []
    for i in range(256):
        raw = asm(f"{mn} k1, k2, {i}")
        insn = decode_one(raw, INSN_ADDRESS)
        r = h.run_form(Form(f"{insn.form} {i}", default_tables().entry_for(mn), mn, [Instance(raw, insn)]), 2)
        if r.mismatches or r.skipped:
            bad.append((i, r.skipped, r.failures[:1]))
    assert not bad, bad


NATIVE_FORMS = """
kshiftlb k1, k2, 3
kshiftrw k1, k2, 15
kshiftlq k1, k2, 64
kaddw k1, k2, k3
kaddq k1, k2, k3
kunpckbw k1, k2, k3
kunpckdq k1, k2, k3
vpmovm2b zmm1, k2
vpmovm2q ymm1, k2
vpmovw2m k1, zmm2
vpmovq2m k1, xmm2
vpbroadcastmw2d zmm1, k2
vpbroadcastmb2q ymm1, k2
vpcompressd zmm1{k1}, zmm2
vpcompressq zmm1{k1}{z}, zmm2
vcompressps [rax]{k1}, zmm2
vpexpandd zmm1{k1}, zmm2
vexpandpd zmm1{k1}{z}, [rax]
vpopcntb zmm1{k1}, zmm2
vpopcntq zmm1, qword ptr [rax]{1to8}
vplzcntd zmm1{k1}{z}, zmm2
""".strip().splitlines()


@pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs an AVX-512 host and GNU as")
@pytest.mark.parametrize("form", NATIVE_FORMS)
def test_model_native(form, native_runner):
    check_model_native(form, native_runner, 0x7117, 24)
