"""Escape hatch `indirect_jump_table` (translator/lower/indirect.py): x86 indirect jumps through
jump tables the walker resolves, in small hand-made switch kernels (the shapes oneDNN emits:
Xbyak ``putL`` tables read with ``jmp qword [r + idx*8]`` or ``lea r, [r + idx*8]; jmp [r]``,
4-byte relative tables, ``mov r, label; jmp r``). Each kernel runs natively (x86) and translated
(unicorn, 512-bit SVE, through its AAPCS64 entry); the results must agree for every case index.
Plus the real corpus sites (onednn-avx512-core record 21, onednn-avx2 record 58) translate, and
an unresolved indirect jump stays unsupported.
"""
from __future__ import annotations

import pytest

from translator import translate
from translator.jit import CodeGenerator, Label
from translator.jit.operands import REGISTERS as R, ptr, qword, dword
from translator.jit.runner import ENTRY_SYMBOL, run_function, run_native
from translator.e2e import native_missing
from translator.translate import UnsupportedError

NO_NATIVE = native_missing()
needs_native = pytest.mark.skipif(bool(NO_NATIVE), reason=f"native x86: {NO_NATIVE}")

rax, rcx, rdi, rsi, r10, r11, rip = (R[n] for n in ("rax", "rcx", "rdi", "rsi", "r10", "r11", "rip"))
eax = R["eax"]
BASE = 0x7f5500010000


def _cases(g: CodeGenerator, labels: list, done: Label, flags_case: bool = True) -> None:
    """Case bodies: f(idx, x) differs per case. Case 3 reads the flags of the `cmp rsi, 100` made
    before the jump (flags live across the indirect jump)."""
    bodies = [
        lambda: (g.lea(rax, ptr[rsi + 1])),
        lambda: (g.lea(rax, ptr[rsi + rsi * 2])),
        lambda: (g.mov(rax, rsi), g.xor_(rax, 0x5a5a)),
        lambda: (g.mov(eax, 11), g.jl(done), g.mov(eax, 22)) if flags_case else g.mov(eax, 33),
        lambda: (g.mov(rax, rsi), g.neg(rax)),
    ]
    for lab, body in zip(labels, bodies):
        g.L(lab)
        body()
        g.jmp(done)


def _kernel(kind: str) -> tuple[CodeGenerator, int]:
    """f(rdi = case index, rsi = x) -> rax. Returns the generator and the number of cases."""
    g = CodeGenerator(base=BASE, strict=False)
    n = 5
    labels = [Label() for _ in range(n)]
    done, table = Label(), Label()
    g.cmp(rsi, 100)
    if kind == "abs64_index":            # jit_pp_kernel_t: lea r10, [rip+table]; jmp [r10+rcx*8]
        g.mov(rcx, rdi)
        g.lea(r10, ptr[rip + table])
        g.jmp(qword[r10 + rcx * 8])
    elif kind == "abs64_lea":            # jit_brdgmm_kernel_base_t: mov rax, table; lea; jmp [rax]
        g.mov(rax, table)
        g.lea(rax, ptr[rax + rdi * 8])
        g.jmp(qword[rax])
    elif kind == "abs64_disp":           # the slot through a displacement: [r11 + rdi*8 + 16]
        g.mov(r11, table)
        g.jmp(qword[r11 + rdi * 8 + 16])
    elif kind == "rel32":                # 4-byte entries relative to the table
        g.lea(r10, ptr[rip + table])
        g.movsxd(rax, dword[r10 + rdi * 4])
        g.add(rax, r10)
        g.jmp(rax)
    else:
        raise ValueError(kind)
    _cases(g, labels, done, flags_case=kind != "rel32")   # `add` clobbers the flags in rel32
    g.L(done)
    g.ret()
    g.align(8)
    g.L(table)
    addr = [lab.address for lab in labels]
    if kind == "abs64_disp":
        g.dq([0, 0] + addr)                               # two leading slots the kernel skips
    elif kind == "rel32":
        g.dd([a - table.address for a in addr])
    else:
        g.dq(addr)
    return g, n


def _expected(i: int, x: int, kind: str = "") -> int:
    m = (1 << 64) - 1
    case3 = 33 if kind == "rel32" else (11 if x < 100 else 22)
    return [(x + 1) & m, (3 * x) & m, x ^ 0x5a5a, case3, (-x) & m][i]


KINDS = ["abs64_index", "abs64_lea", "abs64_disp", "rel32"]


@pytest.mark.parametrize("kind", KINDS)
def test_switch_kernel_translates_with_a_branch_table(kind):
    g, n = _kernel(kind)
    t = translate(g.x86_code(), base=BASE, symbol=ENTRY_SYMBOL)
    asm = t.asm()
    assert "br x" in asm or kind == "rel32"
    if kind != "rel32":
        lab = next(l for l in asm.splitlines() if l.startswith(".Ljt_") and not l.endswith("_bad:"))
        rows = asm.splitlines()
        k = rows.index(lab)
        assert all(r.startswith("b .L_") for r in rows[k + 1:k + 1 + n]), rows[k:k + 1 + n]


@pytest.mark.parametrize("kind", KINDS)
def test_switch_kernel_unicorn_matches_expected(kind):
    g, n = _kernel(kind)
    code = g.arm_code(symbol=ENTRY_SYMBOL)
    for i in range(n):
        for x in (5, 100, 12345):
            assert run_function(code, [i, x]) == _expected(i, x, kind), (kind, i, x)


@needs_native
@pytest.mark.parametrize("kind", KINDS)
def test_switch_kernel_native_matches_translated(kind):
    g, n = _kernel(kind)
    code = g.arm_code(symbol=ENTRY_SYMBOL)
    for i in range(n):
        for x in (7, 99, 100, 2 ** 40):
            nat = run_native(g, [i, x])
            assert nat == _expected(i, x, kind), (kind, i, x, nat)
            assert run_function(code, [i, x]) == nat, (kind, i, x)


def test_slot_outside_the_table_traps():
    """Index n (one past the table) and a misaligned slot trap (brk), never jump somewhere."""
    from translator.jit.runner import RunError
    g, n = _kernel("abs64_index")
    code = g.arm_code(symbol=ENTRY_SYMBOL)
    for i in (n, -1, 1 << 40):
        with pytest.raises(RunError):
            run_function(code, [i & ((1 << 64) - 1), 1])


def test_rel32_offset_outside_the_table_traps():
    from translator.jit.runner import RunError
    g, n = _kernel("rel32")
    code = g.arm_code(symbol=ENTRY_SYMBOL)
    with pytest.raises(RunError):
        run_function(code, [n + 3, 1])          # reads past the table: an offset of no entry


@needs_native
def test_single_target_mov_label_jmp_reg():
    g = CodeGenerator(base=BASE, strict=False)
    tgt, skip = Label(), Label()
    g.mov(rax, tgt)                      # Xbyak mov(reg, label): relocated to adr
    g.jmp(rax)
    g.L(skip)
    g.mov(eax, 1)
    g.ret()
    g.L(tgt)
    g.lea(rax, ptr[rdi + 40])
    g.ret()
    t = translate(g.x86_code(), base=BASE, symbol=ENTRY_SYMBOL)
    assert t.program.indirect and next(iter(t.program.indirect.values())).kind == "single"
    assert run_function(t.arm_code, [2]) == run_native(g, [2]) == 42


def test_unresolved_indirect_jump_is_unsupported():
    g = CodeGenerator(base=BASE, strict=False)
    g.jmp(qword[rdi])                    # a pointer from the caller: no table to resolve
    with pytest.raises(UnsupportedError, match="could not resolve"):
        translate(g.x86_code(), base=BASE, symbol=ENTRY_SYMBOL)


def test_lowering_cache_does_not_share_jump_tables():
    """Two identical jump instructions at different addresses get their own tables."""
    g = CodeGenerator(base=BASE, strict=False)
    a_cases, b_cases, mid, done, ta, tb = [Label(), Label()], [Label(), Label()], Label(), Label(), Label(), Label()
    g.lea(r10, ptr[rip + ta])
    g.jmp(qword[r10 + rdi * 8])
    g.L(a_cases[0]); g.mov(eax, 1); g.jmp(mid)
    g.L(a_cases[1]); g.mov(eax, 2); g.jmp(mid)
    g.L(mid)
    g.lea(r10, ptr[rip + tb])
    g.jmp(qword[r10 + rsi * 8])
    g.L(b_cases[0]); g.add(eax, 10); g.jmp(done)
    g.L(b_cases[1]); g.add(eax, 20); g.jmp(done)
    g.L(done)
    g.ret()
    g.align(8)
    g.L(ta)
    g.dq([a.address for a in a_cases])
    g.L(tb)
    g.dq([b.address for b in b_cases])
    code = g.arm_code(symbol=ENTRY_SYMBOL)
    for i in (0, 1):
        for j in (0, 1):
            assert run_function(code, [i, j]) == [1, 2][i] + [10, 20][j]


# ---------------------------------------------------------------------------------------------
# the corpus sites

def _corpus(name: str):
    from translator.e2e.onednn import corpus_jitdump
    p = corpus_jitdump()
    if p is None:
        pytest.skip("corpus not found")
    path = p.parent / name
    if not path.is_file():
        pytest.skip(f"{name} not found")
    from translator.decode.jitdump import read_jitdump
    return read_jitdump(str(path))


def test_corpus_brdgmm_record21_jump_table_translates():
    k = _corpus("onednn-avx512-core.jit.dump")[21]
    assert k.name == "jit_brdgmm_kernel_base_t"
    t = translate(k.code, base=k.address, symbol="kernel")
    jt = t.program.indirect[k.address + 0x247]
    assert jt.kind == "abs64" and len(jt.targets) == 7
    assert f".Ljt_{k.address + 0x247:x}:" in t.asm()


def test_corpus_pp_kernel_jump_tables_lower():
    """onednn-avx2 jit_pp_kernel_t (record 58): every `jmp qword [r10+rcx*8]` gets a branch table
    (other instructions of that AVX2 kernel may still lack lowerings)."""
    recs = _corpus("onednn-avx2-torch.jit.dump")
    k = recs[58]
    assert "jit_pp_kernel_t" in k.name
    t = translate(k.code, base=k.address, symbol="kernel", allow_unsupported=True)
    sites = [a for a, jt in t.program.indirect.items() if jt is not None]
    assert len(sites) >= 6
    bad = {a for a, *_ in t.unsupported}
    assert not bad & set(sites)
    asm = t.asm()
    for a in sites:
        assert f".Ljt_{a:x}:" in asm
