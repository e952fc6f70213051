"""Known splat constants (translator/lower/splat.py) and the rules that use them."""
from __future__ import annotations

from translator import translate
from translator.decode.flow import walk
from translator.jit import CodeGenerator, Label, k1, r14, r14b, r14d, r14w, rax, zmm1, zmm28, zmm29
from translator.lower.splat import name, pattern_of, splat_in


def _gen() -> CodeGenerator:
    return CodeGenerator(strict=False)


def _facts(g: CodeGenerator) -> list[tuple[str, dict]]:
    prog = walk(g.x86_code(), 0)
    order = list(prog.insns.values())
    from translator.translate import _successors
    st = splat_in(order, lambda i: _successors(prog, i), set(prog.entries))
    return [(i.text, st[i.address][1]) for i in order]


def _ones(g: CodeGenerator) -> None:
    g.xor_(r14, r14)
    g.mov(r14w, 1)
    g.vpbroadcastw(zmm29, r14d)


def test_names_and_patterns():
    assert name(0x0001000100010001) == "w:0x1"
    assert name(0) == "b:0x0"
    assert name(0x3F8000003F800000) == "d:0x3f800000"
    assert pattern_of("w:0x1") == (0x0001000100010001, 2)


def test_the_int8_ones_idiom_is_known_at_the_multiply():
    g = _gen()
    _ones(g)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    facts = _facts(g)
    assert facts[3][1] == {29: (0x0001000100010001, 512)}
    assert facts[2][1] == {}                    # not before the broadcast


def test_a_path_that_changes_the_register_or_the_gpr_forgets():
    g = _gen()
    _ones(g)
    skip = Label()
    g.test(rax, rax)
    g.jz(skip)
    g.vpaddd(zmm29, zmm29, zmm1)               # on one path only
    g.L(skip)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert _facts(g)[-2][1] == {}
    g = _gen()
    g.mov(r14b, 1)                              # only the low byte known: not enough for words
    g.vpbroadcastw(zmm29, r14d)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert _facts(g)[-2][1] == {}


def test_a_word_broadcast_needs_only_the_low_word():
    g = _gen()
    g.mov(r14w, 1)                              # brgemm: `mov bx, 1` over an unknown rbx
    g.vpbroadcastw(zmm29, r14d)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert _facts(g)[-2][1] == {29: (0x0001000100010001, 512)}


def test_masked_broadcasts_and_calls_give_nothing():
    g = _gen()
    g.xor_(r14, r14)
    g.mov(r14w, 1)
    g.vpbroadcastw(zmm29 | k1, r14d)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert _facts(g)[-2][1] == {}
    g = _gen()
    _ones(g)
    f = Label()
    g.call(f)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    g.L(f)
    g.ret()
    assert [x for t, x in _facts(g) if t.startswith("vpmaddwd")] == [{}]


def _body(code: bytes, mnemonic: str) -> list[str]:
    t = translate(code, nan_mode="fast")
    return next(ls for i, ls in t.lines if i is not None and i.mnemonic == mnemonic)


def test_vpmaddwd_by_known_ones_is_a_pair_sum():
    g = _gen()
    _ones(g)
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert _body(g.x86_code(), "vpmaddwd") == ["asr z31.s, z28.s, #16", "sxth z28.s, p0/m, z28.s",
                                               "add z28.s, z28.s, z31.s"]
    g = _gen()
    g.vpbroadcastw(zmm29, r14d)                 # r14 unknown: the general form
    g.vpmaddwd(zmm28, zmm28, zmm29)
    g.ret()
    assert len(_body(g.x86_code(), "vpmaddwd")) == 6


def test_verify_proves_the_rule_on_states_holding_ones(monkeypatch):
    """Each vpmaddwd form runs a variant whose src2 holds ones (harness._splat_variants), and a
    wrong pair-sum rule is refuted there."""
    from conftest import exact_forms, verify_forms
    forms = exact_forms(["vpmaddwd zmm, zmm, zmm", "vpmaddwd ymm, ymm, ymm"])
    assert verify_forms(forms, 200, count=2) == []
    from translator.lower.tables import default_tables
    e = default_tables().entry_for("vpmaddwd")
    rule = next(r for r in e.rules if "src2_splat" in r.when)
    monkeypatch.setattr(rule, "sve", [l.replace("add ", "sub ") for l in rule.sve])
    bad = verify_forms(forms, 200, count=2)
    assert len(bad) == 2 and all(m > 0 for _, m, _, _ in bad)


def test_reuse_hint_names_the_source_a_neighbour_reads_again():
    from translator.jit import zmm0, zmm2, zmm3, zmm30
    from translator.lower.tables import default_tables
    from translator.translate import _reuses
    g = _gen()
    g.vpmaddubsw(zmm30, zmm0, zmm2)            # brgemm: the broadcast src1 is shared
    g.vpaddd(zmm1, zmm1, zmm30)
    g.vpmaddubsw(zmm30, zmm0, zmm3)
    g.vpmaddubsw(zmm0, zmm0, zmm2)             # shares src1 with the previous one; writes zmm0:
    g.vpmaddubsw(zmm30, zmm0, zmm3)            # the next one's src1 is another value
    g.ret()
    prog = walk(g.x86_code(), 0)
    order = list(prog.insns.values())
    hints = _reuses(prog, order, default_tables(), set(prog.labels))
    assert [hints.get(i.address) for i in order] == ["src1", None, "src1", "src1", None, None]


def test_verify_runs_the_reuse_rule_and_refutes_a_wrong_one(monkeypatch):
    from conftest import exact_forms, verify_forms
    from translator.lower.tables import default_tables
    forms = exact_forms(["vpmaddubsw zmm, zmm, zmm"])
    assert verify_forms(forms, 200, count=1) == []
    e = default_tables().entry_for("vpmaddubsw")
    rule = next(r for r in e.rules if r.when.get("reuses") == "src1")
    monkeypatch.setattr(rule, "sve", [l.replace("sqadd", "uqadd") for l in rule.sve])
    bad = verify_forms(forms, 200, count=1)
    assert len(bad) == 1 and bad[0][1] > 0


def test_the_avx2_ones_idiom_through_an_xmm():
    """AVX2 gemm: mov eax, 1 / movq xmm7, rax / vpbroadcastw ymm7, xmm7; the ones are src1."""
    from translator.jit import eax, rax as _rax, xmm7, ymm6, ymm7
    g = _gen()
    g.mov(eax, 1)
    g.movq(xmm7, _rax)
    g.vpbroadcastw(ymm7, xmm7)
    g.vpmaddwd(ymm6, ymm7, ymm6)
    g.ret()
    facts = _facts(g)
    assert facts[3][1][7] == (0x0001000100010001, 256)
    assert _body(g.x86_code(), "vpmaddwd") == ["asr z31.s, z6.s, #16", "sxth z6.s, p0/m, z6.s",
                                               "add z6.s, z6.s, z31.s",
                                               "mov z6.b, p8/m, #0"]    # ymm6's upper bits unknown
