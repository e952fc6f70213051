"""The translation fast paths (issue 6) change nothing in the output: every memo/shortcut is
checked against the plain way of computing the same thing, in the same process (the tables move
under active development, so recorded hashes would go stale; comparing two ways does not).

* cached (lowering cache, line cache, shared contexts, walk reuse, warm) == uncached (all off)
* one-pass `assemble` with fix-ups == a two-pass reference assembler built on `encode_line`
* `unit_liveness` == (`flag_liveness`, `vector_liveness`)
"""
from __future__ import annotations

import importlib
import struct
from pathlib import Path

import pytest

import translator.encode as enc
from translator.decode import flow
from translator.decode.flow import infer_base, walk
from translator.lower import UnitContext

T = importlib.import_module("translator.translate")   # the module (translator.translate is the function)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "translator" / "examples").glob("*.bin"))
CORPUS = ROOT.parent / "shared" / "corpus"


def _kernels(every: int = 9) -> list[tuple[str, bytes]]:
    out = [(p.name, p.read_bytes()) for p in EXAMPLES]
    for sub in ("onednn-avx512-core", "onednn-avx2"):
        d = CORPUS / sub
        if d.is_dir():
            out += [(p.name, p.read_bytes()) for p in sorted(d.glob("*.bin"))[::every]]
    return out


def _result(t) -> tuple:
    return (t.arm_code, t.asm(), t.listing(), t.stats, list(t.unsupported))


def _translate_all(kernels, **kw):
    out = {}
    for name, code in kernels:
        try:
            out[name] = _result(T.translate(code, allow_unsupported=True, **kw))
        except T.TranslateError as ex:
            out[name] = ("error", str(ex))
    return out


def _uncached(monkeypatch):
    """Every shortcut off: no lowering cache, a fresh UnitContext per instruction, no walk
    reuse, the reference liveness, and the encoder's memo cleared."""
    monkeypatch.setattr(T.LOWER_CACHE, "enabled", False)

    def fresh_context(self, a, live, vlive, label_of, counter, outlined, zero_above=None,
                      splat=None, reuse=None):
        return UnitContext(flags_live_out=set(live.get(a, frozenset())), label_of=T._safe(label_of),
                           label_counter=counter, outlined=outlined,
                           free_z=[z for z in range(31, -1, -1) if z not in vlive.get(a, ())],
                           zero_above=zero_above, splat=splat, reuse=reuse)
    monkeypatch.setattr(T._UnitLowering, "context", fresh_context)
    monkeypatch.setattr(T, "unit_liveness", lambda p, o: (T.flag_liveness(p, o), T.vector_liveness(p, o)))
    real_infer = flow.infer_base

    def infer_no_reuse(code, *a, **k):
        r = real_infer(code, *a, **k)
        flow._LAST_WALK = None
        return r
    monkeypatch.setattr(T, "infer_base", infer_no_reuse)
    enc.clear_cache()


@pytest.mark.parametrize("nan_mode", ["exact", "fast"])
def test_cached_translation_equals_uncached(monkeypatch, nan_mode):
    kernels = _kernels()
    T.clear_caches()
    enc.clear_cache()
    cold = _translate_all(kernels, nan_mode=nan_mode)
    warm = _translate_all(kernels, nan_mode=nan_mode)      # every memo now hit
    with monkeypatch.context() as m:
        _uncached(m)
        plain = _translate_all(kernels, nan_mode=nan_mode)
    assert cold.keys() == plain.keys()
    for name in plain:
        assert cold[name] == plain[name], name
        assert warm[name] == plain[name], name


def test_symbol_and_linear_cached_equal_uncached(monkeypatch):
    kernels = _kernels(every=17)[:6]
    T.clear_caches()
    a = _translate_all(kernels, symbol="k")
    b = _translate_all(kernels, linear=True)
    with monkeypatch.context() as m:
        _uncached(m)
        assert _translate_all(kernels, symbol="k") == a
        assert _translate_all(kernels, linear=True) == b


def test_unit_liveness_equals_reference():
    for name, code in _kernels(every=3):
        base = infer_base(code) or 0
        p = walk(code, base)
        order = list(p.insns.values())
        live, vlive = T.unit_liveness(p, order)
        assert live == T.flag_liveness(p, order), name
        assert vlive == T.vector_liveness(p, order), name


def test_walk_reuse_is_identical():
    for name, code in _kernels(every=5):
        b = infer_base(code)
        p1 = walk(code, b or 0)
        flow._LAST_WALK = None
        p2 = walk(code, b or 0)
        assert p1 == p2, name
        assert walk(code, 0) is not p1        # handed out once only


# --- the assembler ----------------------------------------------------------------------------
def _reference_assemble(lines, base=0):
    """Two passes over parsed items, every instruction through encode_line (the old assembler)."""
    items = list(enc._items(lines))
    labels, plan, pc = {}, [], base
    for kind, s, raw in items:
        if kind == "label":
            assert s not in labels
            labels[s] = pc
            continue
        d, _, arg = s.partition(" ")
        d = d.lower()
        if d in enc._DIRECTIVE_BITS:
            bits = enc._DIRECTIVE_BITS[d]
            data = b"".join(v.to_bytes(bits // 8, "little") for v in enc._ints(arg.strip(), bits))
            plan.append(("data", data))
            pc += len(data)
        elif d in (".balign", ".align", ".p2align"):
            a = [x.strip() for x in arg.split(",")]
            n = int(a[0], 0)
            n = 1 << n if d != ".balign" else n
            fill = int(a[1], 0) if len(a) > 1 and a[1] else None
            pad = (-pc) % n
            plan.append(("align", (pad, fill)))
            pc += pad
        elif d in enc._IGNORED or d.startswith(".cfi"):
            pass
        else:
            plan.append(("insn", s))
            pc += 4
    out, pc = bytearray(), base
    for kind, s in plan:
        if kind == "data":
            out += s
        elif kind == "align":
            pad, fill = s
            out += (struct.pack("<I", 0xD503201F) * (pad // 4) if fill is None and pad % 4 == 0 and pc % 4 == 0
                    else bytes([fill or 0]) * pad)
        else:
            out += struct.pack("<I", enc.encode_line(s, pc, labels))
        pc = base + len(out)
    return bytes(out)


SNIPPET = """
start: add x0, x1, #16   // comment
    b.ne start ; b fwd
    ldr x2, [x3, #8]
    adr x4, data
    cbz x5, fwd
fwd:
    tbz w6, #3, start
    .byte 1, 2, 3
    .balign 4
data: .word 0x12345678
    .balign 16
    ret
"""


@pytest.mark.parametrize("base", [0, 0x1000, 0x400000])
def test_assemble_equals_two_pass_reference(base):
    lines = SNIPPET.splitlines()
    enc.clear_cache()
    assert enc.assemble(lines, base) == _reference_assemble(lines, base)
    assert enc.assemble(lines, base) == _reference_assemble(lines, base)     # from the line cache


def test_assemble_equals_reference_on_translations():
    for name, code in _kernels(every=6)[:10]:
        t = T.translate(code, allow_unsupported=True)
        enc.clear_cache()
        assert _reference_assemble(t._asm_lines) == t.arm_code, name
        assert enc.assemble(t._asm_lines) == t.arm_code, name


def test_assemble_errors_unchanged():
    enc.clear_cache()
    for src, frag in [(["b nowhere"], "undefined label"), (["x: nop", "x: nop"], "defined twice"),
                      ([".byte 1", "nop"], "misaligned"), (["frob x0"], "unknown mnemonic"),
                      (["add x0, x1, #99999"], "add x0"), ([".bogus 1"], "unsupported directive")]:
        for _ in range(2):          # second time from the line cache
            with pytest.raises(enc.EncodeError, match=frag):
                enc.assemble(src)


def test_kernel_cache_hits_are_private_copies():
    name, code = _kernels()[0]
    T.clear_caches()
    a = T.translate(code, allow_unsupported=True)
    ref = _result(a)
    a.lines.clear()
    a._asm_lines.append("nop")
    b = T.translate(code, allow_unsupported=True)
    assert T.KERNEL_CACHE.hits == 1 and _result(b) == ref
    b.lines[0][1].append("nop")
    assert _result(T.translate(code, allow_unsupported=True)) == ref
    # any differing argument is a different kernel
    c = T.translate(code, allow_unsupported=True, nan_mode="fast")
    assert T.KERNEL_CACHE.hits == 2 and T.KERNEL_CACHE.misses == 2
