"""GPR atomics and rotate through carry (mapping_tables/gpr_atomic.yaml, models in x86model/ext12.py).

- exact lowerings of the main forms (the expansion is pinned here): every memory form of xchg and
  of lock xadd / lock cmpxchg is one LSE atomic (swpal/ldaddal/casal, b/h/w/x) with no separate
  ldr/str; unlocked xadd/cmpxchg (not atomic on x86 either) are a plain load and store;
- a short verify run over every form of these entries (flags live, carry in C and in !C), and the
  flags-dead rules (which verify's harness does not run for GPR entries) against the model;
- a misaligned atomic traps (brk #0x7861) instead of losing atomicity;
- `lock add/sub/and/or/xor/inc/dec/not/bts/btr/btc [m]` ("lock X" entries): one atomic each;
- four threads under qemu-aarch64 increment one counter with the translated `lock xadd`,
  `lock cmpxchg`, `lock add`, `lock inc` loops: no increment is lost.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from test_x86_model_util import HAVE_AS, asm  # noqa: E402
from translator.decode import decode_one  # noqa: E402
from translator.lower import Unsupported, lower_snippet  # noqa: E402
from translator.verify.state import MEM_BASE, MEM_SIZE, X86State  # noqa: E402

try:
    from translator.encode import assemble
    from translator.verify import x86_model
    from translator.verify.arm_exec import ArmExecError, ArmRunner
    from translator.verify.compare import compare, to_arm
    HAVE_ARM = True
except Exception:                                   # pragma: no cover
    HAVE_ARM = False

needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="needs unicorn and translator.encode")
needs_as = pytest.mark.skipif(not HAVE_AS, reason="needs GNU as (x86-64) and objcopy")
ALL = frozenset({"CF", "PF", "AF", "ZF", "SF", "OF"})
F_C = {"CF": "C", "ZF": "Z", "SF": "N", "OF": "V"}
F_NC = {"CF": "!C", "ZF": "Z", "SF": "N", "OF": "V"}
M64 = (1 << 64) - 1
MNEMS = r"^(lock )?(xchg|xadd|cmpxchg|rcl|rcr|add|sub|and|or|xor|inc|dec|not|bts|btr|btc) "
_RUNNER: list = []


def X(text: str):
    return decode_one(asm(text), 0x401000)


def low(text: str, fin=F_C, live=ALL):
    return lower_snippet(X(text), flags_in=dict(fin), flags_live_out=live)


def runner():
    if not _RUNNER:
        _RUNNER.append(ArmRunner(512))
    return _RUNNER[0]


ALIGN8 = ["mov x16, x0", "and x17, x16, #7", "cbz x17, .Lx1", "brk #0x7861", ".Lx1:"]
ALIGN4 = ["mov x16, x0", "and x17, x16, #3", "cbz x17, .Lx1", "brk #0x7861", ".Lx1:"]
ALIGN2 = ["mov x16, x0", "and x17, x16, #1", "cbz x17, .Lx1", "brk #0x7861", ".Lx1:"]


# ---- exact lowerings ---------------------------------------------------------------------------

@needs_as
@pytest.mark.parametrize("text, fin, live, body", [
    ("xchg [rdi], rax", F_C, ALL, ALIGN8 + ["swpal x6, x19, [x16]", "mov x6, x19"]),
    ("xchg dword ptr [rdi], esi", F_C, ALL, ALIGN4 + ["swpal w1, w19, [x16]", "mov w1, w19"]),
    ("xchg word ptr [rdi], si", F_C, ALL, ALIGN2 + ["swpalh w1, w19, [x16]", "bfi x1, x19, #0, #16"]),
    ("xchg byte ptr [rdi], cl", F_C, ALL, ["mov x16, x0", "swpalb w3, w17, [x16]", "bfi x3, x17, #0, #8"]),
    ("xchg rax, rbx", F_C, ALL, ["mov x16, x9", "mov x9, x6", "mov x6, x16"]),   # as: 48 93 (rbx, rax)
    ("lock xadd [rdi], rax", F_C, ALL, ALIGN8 + ["ldaddal x6, x19, [x16]", "cmn x19, x6", "mov x6, x19"]),
    ("lock xadd [rdi], rax", F_C, frozenset(), ALIGN8 + ["ldaddal x6, x19, [x16]", "mov x6, x19"]),
    ("xadd dword ptr [rdi], esi", F_C, ALL, ["mov x16, x0", "ldr w17, [x16]", "adds w19, w17, w1",
                                             "str w19, [x16]", "mov w1, w17"]),      # unlocked: plain
    ("cmpxchg qword ptr [rdi], rcx", F_C, ALL, ["mov x16, x0", "ldr x17, [x16]", "cmp x6, x17",
                                                "csel x19, x3, x17, eq", "str x19, [x16]", "mov x6, x17"]),
    ("lock xadd word ptr [rdi], si", F_C, ALL, ALIGN2 + ["ldaddalh w1, w19, [x16]", "lsl w17, w19, #16",
                                                        "cmn w17, w1, lsl #16", "bfi x1, x19, #0, #16"]),
    ("xadd rbx, rcx", F_C, ALL, ["adds x16, x9, x3", "mov x3, x9", "mov x9, x16"]),
    ("lock cmpxchg [rdi], rcx", F_C, ALL, ALIGN8 + ["mov x19, x6", "casal x19, x3, [x16]", "cmp x6, x19",
                                                   "mov x6, x19"]),
    ("lock cmpxchg dword ptr [rdi], ecx", F_C, ALL, ALIGN4 + ["mov w19, w6", "casal w19, w3, [x16]",
                                                             "cmp w6, w19", "csel x6, x6, x19, eq"]),
    ("lock cmpxchg byte ptr [rdi], cl", F_C, ALL, ["mov x16, x0", "mov w17, w6", "casalb w17, w3, [x16]",
                                                  "lsl w19, w6, #24", "cmp w19, w17, lsl #24",
                                                  "bfi x6, x17, #0, #8"]),
    ("cmpxchg rbx, rcx", F_C, ALL, ["cmp x6, x9", "csel x16, x3, x9, eq", "mov x6, x9", "mov x9, x16"]),
    ("cmpxchg ebx, ecx", F_C, ALL, ["cmp w6, w9", "mov w16, w9", "mov w17, w3", "csel x6, x6, x16, eq",
                                    "csel x9, x17, x9, eq"]),
    ("lock add dword ptr [rdi], esi", F_C, ALL, ALIGN4 + ["ldaddal w1, w19, [x16]", "cmn w19, w1"]),
    ("lock and qword ptr [rdi], rax", F_C, ALL, ALIGN8 + ["mvn x19, x6", "ldclral x19, x20, [x16]", "tst x20, x6"]),
    ("lock or byte ptr [rdi], cl", F_C, ALL, ["mov x16, x0", "ldsetalb w3, w17, [x16]", "orr w17, w17, w3",
                                              "cmn wzr, w17, lsl #24"]),
    ("lock inc qword ptr [rdi]", F_C, ALL, ALIGN8 + ["mov x19, #1", "ldaddal x19, x20, [x16]", "cmn x20, #1"]),
    ("lock bts qword ptr [rdi], 40", F_C, ALL, ALIGN8 + ["mov x19, #1099511627776", "ldsetal x19, x20, [x16]",
                                                        "ubfx x20, x20, #40, #1", "cmp x20, #1"]),
    ("rcl rax, 1", F_C, ALL, ["cset x16, cs", "extr x16, x16, x6, #1", "lsl x17, x6, #0",
                              "extr x6, x6, x16, #63", "cmn x17, x17"]),
    ("rcl eax, 5", F_NC, frozenset(), ["cset w16, cc", "extr w16, w16, w6, #1", "extr w6, w6, w16, #27"]),
    ("rcr rax, 1", F_C, frozenset(), ["cset x16, cs", "orr x16, x16, x6, lsl #1", "extr x6, x16, x6, #1"]),
    ("rcl rax, cl", F_C, ALL, ["and x16, x3, #63", "cset x17, cs", "extr x17, x17, x6, #1", "lsl x19, x6, x16",
                               "neg x20, x16", "lsr x17, x17, x20", "orr x19, x19, x17", "cmp x16, #0",
                               "csel x6, x6, x19, eq"]),
])
def test_exact_lowering(text, fin, live, body):
    snip = low(text, fin, live)
    assert snip.body == body, snip.body


@needs_as
def test_memory_forms_are_one_atomic_without_plain_loads_or_stores():
    from translator.verify.forms import enumerate_forms
    forms = enumerate_forms(only=r"^(lock )?(xchg|xadd|cmpxchg|add|sub|and|or|xor|inc|dec|not|bts|btr|btc) m", per_form=2)
    assert {"xchg m8, r8", "xchg m64, r64", "lock xadd m16, r16", "lock cmpxchg m32, r32"} <= set(forms)
    atomic = re.compile(r"^(swpal|ldaddal|ldclral|ldsetal|ldeoral|casal)[bh]? ")
    plain = re.compile(r"^(ldr|str|ldur|stur|ldp|stp|ldxr|stxr)")
    for name, f in forms.items():
        if name.split()[0] in ("add", "sub", "and", "or", "xor", "inc", "dec", "not", "xadd", "cmpxchg"):
            continue                                  # the unlocked forms: plain load/op/store
        for inst in f.instances:
            for fin in (F_C, F_NC):
                body = lower_snippet(inst.insn, flags_in=dict(fin), flags_live_out=ALL).body
                assert sum(bool(atomic.match(l)) for l in body) == 1, (name, body)
                assert not any(plain.match(l) for l in body), (name, body)


def test_flags_out_and_unsupported():
    assert low("lock xadd [rdi], rax").flags_out == F_C
    assert low("lock cmpxchg [rdi], rcx").flags_out == F_NC          # PF left unavailable
    assert low("lock inc qword ptr [rdi]").flags_out == {"ZF": "Z", "SF": "N", "OF": "V"}   # CF unavailable
    assert low("lock bts dword ptr [rdi], 3").flags_out == {"CF": "C"}
    assert "ldeoral" in "".join(low("lock btc word ptr [rdi], 9").body)
    assert low("lock not dword ptr [rdi]").flags_out == F_C           # no flags change
    assert low("add qword ptr [rdi], rax", live=ALL - {"PF"}).body == ["ldr x16, [x0]", "adds x16, x16, x6",
                                                                       "str x16, [x0]"]   # unlocked: plain
    assert low("rcl rax, 3").flags_out == {"CF": "C", "OF": "V"}
    assert low("rcl rax, 64").flags_out == F_C                      # masked count 0: nothing changes
    assert low("rcl al, 9").flags_out == F_C                        # 9 mod 9: CF kept, OF undefined
    for fin in ({"CF": "0"}, {}):                                   # carry-in not in NZCV: unsupported
        with pytest.raises(Unsupported):
            low("rcl rax, 3", fin)
    assert low("rcr rax, cl").flags_out == {}                        # cl counts: the result only
    for text in ("xchg byte ptr [rdi], ah", "xadd ah, bl", "lock adc qword ptr [rdi], rax",
                 "lock neg qword ptr [rdi]", "lock bts qword ptr [rdi], rax", "lock btc dword ptr [rdi], eax"):
        with pytest.raises(Unsupported):
            low(text)


# ---- against the model ---------------------------------------------------------------------------

def _state(rng: random.Random, gpr: dict, rflags: int) -> X86State:
    st = X86State()
    st.gpr = {r: rng.getrandbits(64) for r in st.gpr}
    st.gpr["rsp"] = MEM_BASE + 0x800
    st.gpr.update(gpr)
    st.rflags = rflags
    st.mem = bytes(rng.getrandbits(8) for _ in range(MEM_SIZE))
    return st


def run_case(text: str, rng: random.Random, fin: dict, live=ALL) -> None:
    insn = X(text)
    vals = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x80000000, M64, 1 << 63]
    g = {r: (rng.choice(vals) if rng.random() < 0.5 else rng.getrandbits(64)) for r in ("rax", "rbx", "rcx", "rsi")}
    g["rdi"] = MEM_BASE + 8 * rng.randrange(0, 0x80)
    st = _state(rng, g, 0x202 | rng.choice([0, 0x1, 0x8C5, 0x41]))
    if rng.random() < 0.4:                          # memory equal to the accumulator (cmpxchg succeeds)
        off = g["rdi"] - MEM_BASE
        st.mem = st.mem[:off] + (st.gpr["rax"] & M64).to_bytes(8, "little") + st.mem[off + 8:]
    snip = lower_snippet(insn, flags_in=dict(fin), flags_live_out=live)
    if not live:
        snip.flags_out = {}
    code = assemble(snip.lines)
    x_out, undef = x86_model.execute_ex(insn, st)
    a_in = to_arm(st, snip, 512, rng)
    a_out = runner().run(code, a_in)
    d = compare(insn, snip, st, x_out, undef, a_in, a_out, 512)
    assert d is None, (text, d, snip.body)


@needs_arm
@needs_as
@pytest.mark.parametrize("text", [
    "lock xadd [rdi], rax", "lock xadd dword ptr [rdi], esi", "lock xadd word ptr [rdi], si", "xadd byte ptr [rdi], cl",
    "xadd word ptr [rdi+1], si", "xadd qword ptr [rdi+3], rbx",
    "xadd al, bl", "xadd bx, bx", "xadd ecx, esi", "xadd rbx, rbx",
    "rcl rax, 1", "rcl rbx, 63", "rcl ecx, 17", "rcl al, 8", "rcl si, 16", "rcl qword ptr [rdi], 7",
    "rcr rax, 1", "rcr rbx, 62", "rcr ecx, 31", "rcr al, 3", "rcr si, 1", "rcr dword ptr [rdi], 2",
    "rcl rax, cl", "rcr esi, cl", "rcl bx, cl", "rcr byte ptr [rdi], cl", "rcl cl, cl",
    "lock cmpxchg [rdi], rcx", "cmpxchg eax, ecx", "cmpxchg bl, al", "cmpxchg dword ptr [rdi+2], esi",
    "lock cmpxchg word ptr [rdi], si", "cmpxchg byte ptr [rdi+5], al",
])
def test_flags_dead_rules_against_model(text):
    rng = random.Random(text)
    for i in range(24):
        run_case(text, rng, F_C if i % 2 else F_NC, live=frozenset())


@needs_arm
def test_verify_every_form():
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    forms = enumerate_forms(only=MNEMS, per_form=2)
    names = {n for n in forms if re.match(r"^(xchg|xadd|cmpxchg|rcl|rcr) ", n)}
    assert len(names) == 56, sorted(names)
    locked = {n for n in forms if n.startswith("lock ")}
    assert len(locked) >= 70 and "lock add m64, imm8" in locked and "lock btr m16, imm8" in locked, sorted(locked)
    h = Harness(states=12)
    bad = []
    for f in forms.values():
        r = h.run_form(f)
        if r.mismatches or r.skipped:
            bad.append((f.name, r.skipped, r.failures[:1]))
    assert not bad, bad


@needs_arm
@needs_as
def test_misaligned_atomic_traps():
    insn = X("lock xadd [rdi], rax")
    rng = random.Random(1)
    st = _state(rng, {"rdi": MEM_BASE + 0x104}, 0x202)
    snip = lower_snippet(insn, flags_in=dict(F_C), flags_live_out=ALL)
    with pytest.raises(ArmExecError, match="brk"):
        runner().run(assemble(snip.lines), to_arm(st, snip, 512, rng))


# ---- two threads under qemu ------------------------------------------------------------------

_C_MAIN = r"""
#include <pthread.h>
#include <stdio.h>
extern long KERNEL(long *p, long n);
static long counter __attribute__((aligned(64)));
static void *worker(void *arg) { (void)arg; KERNEL(&counter, ITERS); return 0; }
int main(void) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], 0, worker, 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], 0);
    printf("%ld\n", counter);
    return 0;
}
"""

_KERNELS = {
    # rdi = &counter, rsi = n: n times `lock xadd [rdi], rax` with rax = 1
    "xadd": "1: mov eax, 1\n lock xadd [rdi], rax\n dec rsi\n jnz 1b\n ret",
    # n times: load, then `lock cmpxchg` old -> old + 1 until it succeeds
    "cmpxchg": "1: mov rax, [rdi]\n2: lea rcx, [rax+1]\n lock cmpxchg [rdi], rcx\n jnz 2b\n dec rsi\n jnz 1b\n ret",
    # n times `lock add qword [rdi], 1` / `lock inc qword [rdi]`
    "add": "1: lock add qword ptr [rdi], 1\n dec rsi\n jnz 1b\n ret",
    "inc": "1: lock inc qword ptr [rdi]\n dec rsi\n jnz 1b\n ret",
}
_ATOMIC = {"xadd": "ldaddal", "cmpxchg": "casal", "add": "ldaddal", "inc": "ldaddal"}


THREADS, ITERS = 4, 1_000_000
needs_qemu = pytest.mark.skipif(not (shutil.which("qemu-aarch64-static") and shutil.which("aarch64-linux-gnu-gcc")),
                                reason="needs qemu-aarch64-static and aarch64-linux-gnu-gcc")


@needs_as
@needs_qemu
@pytest.mark.parametrize("kind", sorted(_KERNELS))
def test_threads_lose_no_increment(kind):
    from translator.translate import translate
    text = translate(asm(_KERNELS[kind]), symbol="x2sve_counter").asm()
    assert _ATOMIC[kind] in text
    assert _run_threads(text) == THREADS * ITERS


@needs_as
@needs_qemu
def test_control_plain_add_loses_increments():
    """The unlocked `add [rdi], 1` (ldr/add/str) under the same harness: the threads really overlap
    (qemu runs them in parallel), so the exact counts above are not luck."""
    from translator.translate import translate
    text = translate(asm("1: add qword ptr [rdi], 1\n dec rsi\n jnz 1b\n ret"), symbol="x2sve_counter").asm()
    assert "ldaddal" not in text
    n = _run_threads(text)
    if n == THREADS * ITERS:                          # pragma: no cover (a single-core host)
        pytest.skip("the threads did not overlap here")
    assert n < THREADS * ITERS


def _run_threads(text: str) -> int:
    threads, iters = THREADS, ITERS
    with tempfile.TemporaryDirectory() as d:
        s, c, exe = (os.path.join(d, n) for n in ("k.s", "main.c", "a.out"))
        with open(s, "w") as f:
            f.write(text + "\n")
        with open(c, "w") as f:
            f.write(_C_MAIN)
        subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-static", "-march=armv8.2-a+sve",
                        f"-DKERNEL=x2sve_counter", f"-DTHREADS={threads}", f"-DITERS={iters}",
                        "-o", exe, c, s, "-lpthread"], check=True, capture_output=True, timeout=120)
        r = subprocess.run(["qemu-aarch64-static", "-cpu", "max,sve512=on", exe],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return int(r.stdout)
