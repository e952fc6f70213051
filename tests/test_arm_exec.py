"""The A64/SVE executors: unicorn in process (ArmRunner) and qemu-aarch64 batches (QemuRunner)."""
from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
import time

import pytest

from translator.verify import arm_exec as ax
from translator.verify.arm_exec import (SCRATCH_BASE, SNIPPET_ADDR, ArmExecError,
                                        ArmExecUnavailable, ArmRunner)
from translator.verify.state import MEM_BASE, MEM_SIZE, ArmState

LLVM_MC = shutil.which("llvm-mc")
needs_mc = pytest.mark.skipif(LLVM_MC is None, reason="llvm-mc is not installed")

M64 = (1 << 64) - 1


def asm(text: str) -> bytes:
    """Assemble A64 (+SVE2) text with llvm-mc. Branch targets must be numeric offsets."""
    r = subprocess.run([LLVM_MC, "-triple=aarch64", "-mattr=+sve2", "-show-encoding"],
                       input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = b""
    for m in re.finditer(r"encoding: \[([^\]]*)\]", r.stdout):
        out += bytes(int(x, 0) for x in m.group(1).split(","))
    return out


def word(text: str) -> int:
    b = asm(text)
    assert len(b) == 4, text
    return struct.unpack("<I", b)[0]


def f32(*vals: float) -> bytes:
    return struct.pack(f"<{len(vals)}f", *vals)


def lanes_f32(b: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(b) // 4}f", b))


def lanes_u32(b: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(b) // 4}I", b))


def pred(vl: int, bits_per_lane: int, lanes: list[bool]) -> bytes:
    """A predicate with element size ``bits_per_lane``: one bit per byte, the lowest of each lane."""
    v = 0
    step = bits_per_lane // 8
    for i, on in enumerate(lanes):
        if on:
            v |= 1 << (i * step)
    return v.to_bytes(vl // 64, "little")


def random_state(rng: random.Random, vl: int, mem_base: int = MEM_BASE) -> ArmState:
    specials = [0.0, -0.0, 1.0, -1.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.4e38]

    def zreg() -> bytes:
        if rng.random() < 0.5:
            return rng.randbytes(vl // 8)
        return f32(*(rng.choice(specials) if rng.random() < 0.3 else rng.uniform(-100, 100)
                     for _ in range(vl // 32)))

    st = ArmState(vl, mem_base=mem_base)
    st.z = [zreg() for _ in range(32)]
    st.p = [rng.randbytes(vl // 64) for _ in range(16)]
    st.x = [rng.choice([0, 1, M64, 1 << 63, rng.getrandbits(64), rng.getrandbits(8)])
            for _ in range(31)]
    st.nzcv = rng.getrandbits(4) << 28
    st.fpcr = rng.choice([0, 1 << 22, 2 << 22, 3 << 22, 1 << 24])
    st.mem = rng.randbytes(MEM_SIZE)
    return st


def same(a: ArmState, b: ArmState) -> bool:
    return a.to_json() == b.to_json() and a.vl == b.vl


@pytest.fixture(scope="module")
def runner() -> ArmRunner:
    return ArmRunner(512)


@pytest.fixture(scope="module")
def qemu():
    from translator.verify.qemu_exec import QemuRunner
    try:
        q = QemuRunner(512)
    except ArmExecUnavailable as e:
        pytest.skip(str(e))
    yield q
    q.close()


# --- the trampoline's hand-made encodings agree with llvm-mc -----------------------------------

@needs_mc
def test_trampoline_encodings_match_llvm_mc():
    cases = [
        (ax.ldr_z(0, 31, 3), "ldr z0, [sp, #3, mul vl]"),
        (ax.ldr_z(17, 31, -3), "ldr z17, [sp, #-3, mul vl]"),
        (ax.str_z(31, 31, -256), "str z31, [sp, #-256, mul vl]"),
        (ax.str_z(9, 2, 255), "str z9, [x2, #255, mul vl]"),
        (ax.ldr_p(0, 31, 5), "ldr p0, [sp, #5, mul vl]"),
        (ax.ldr_p(15, 31, -256), "ldr p15, [sp, #-256, mul vl]"),
        (ax.str_p(15, 31, 255), "str p15, [sp, #255, mul vl]"),
        (ax.addvl(31, 31, 16), "addvl sp, sp, #16"),
        (ax.addvl(31, 31, -16), "addvl sp, sp, #-16"),
        (ax.addpl(31, 31, 16), "addpl sp, sp, #16"),
        (ax.addpl(31, 31, -16), "addpl sp, sp, #-16"),
        (ax.ldp_x(0, 1, 31, 16), "ldp x0, x1, [sp, #16]"),
        (ax.stp_x(28, 29, 31, 224), "stp x28, x29, [sp, #224]"),
        (ax.ldr_x(30, 31, 240), "ldr x30, [sp, #240]"),
        (ax.str_x(0, 31, 256), "str x0, [sp, #256]"),
        (ax.movz_x(0, 0x4000, 16), "movz x0, #0x4000, lsl #16"),
        (ax.movk_x(0, 0x1234, 0), "movk x0, #0x1234"),
        (ax.mov_sp_x(0), "mov sp, x0"),
        (ax.MRS_NZCV, "mrs x0, nzcv"), (ax.MSR_NZCV, "msr nzcv, x0"),
        (ax.MRS_FPCR, "mrs x0, fpcr"), (ax.MSR_FPCR, "msr fpcr, x0"),
        (ax.BRK0, "brk #0"),
        (ax.branch_word(0x1000, 0x1800), "b #0x800"),
        (ax.branch_word(0x1800, 0x1000), "b #-0x800"),
    ]
    for got, text in cases:
        assert got == word(text), f"{text}: {got:#010x} != llvm-mc {word(text):#010x}"


def test_trampoline_layout():
    img = ax.trampoline_image()
    assert len(img) == SNIPPET_ADDR - ax.CODE_BASE
    assert ax.snippet_address == SNIPPET_ADDR == ArmRunner.snippet_address
    assert ax.SCRATCH_SIZE >= 0x10000
    # the snippet image ends with a branch to the epilogue
    img = ax.snippet_image(b"\x1f\x20\x03\xd5")
    assert struct.unpack_from("<I", img, 4)[0] == ax.branch_word(SNIPPET_ADDR + 4, ax.EPILOGUE_ADDR)


# --- unicorn ----------------------------------------------------------------------------------

def test_state_round_trips_unchanged(runner):
    rng = random.Random(1)
    for vl in (128, 512, 2048):
        for _ in range(5):
            st = random_state(rng, vl)
            out = runner.run(b"", st)
            assert same(out, st)
            out = runner.run(struct.pack("<I", 0xD503201F), st)  # nop
            assert same(out, st)


@needs_mc
def test_fadd_vector(runner):
    st = ArmState(512)
    st.z[1] = f32(*range(16))
    st.z[2] = f32(*[0.25 * i for i in range(16)])
    out = runner.run(asm("fadd z0.s, z1.s, z2.s"), st)
    assert lanes_f32(out.z[0]) == [1.25 * i for i in range(16)]
    assert out.z[1:] == st.z[1:]
    assert st.z[0] == bytes(64)        # the input state is not modified


@needs_mc
def test_predicated_ops(runner):
    vl = 512
    st = ArmState(vl)
    st.z[0] = f32(*[100.0] * 16)
    st.z[1] = f32(*range(16))
    st.z[2] = f32(*[7.5] * 16)
    even = [i % 2 == 0 for i in range(16)]
    st.p[1] = pred(vl, 32, even)
    st.p[3] = pred(vl, 32, [True] * 16)
    out = runner.run(asm("fadd z0.s, p1/m, z0.s, z1.s\n"
                         "fcmgt p2.s, p3/z, z1.s, z2.s\n"
                         "movprfx z4.s, p1/z, z1.s\n"
                         "fmul z4.s, p1/m, z4.s, z2.s\n"), st)
    assert lanes_f32(out.z[0]) == [100.0 + i if i % 2 == 0 else 100.0 for i in range(16)]
    assert out.p[2] == pred(vl, 32, [i > 7.5 for i in range(16)])
    assert lanes_f32(out.z[4]) == [7.5 * i if i % 2 == 0 else 0.0 for i in range(16)]
    # ptest-style flags: cmpeq sets NZCV from the result predicate (N = first active lane true)
    out = runner.run(asm("cmpeq p5.s, p3/z, z3.s, #0"), st)
    assert out.p[5] == pred(vl, 32, [True] * 16)
    assert out.nzcv >> 28 == 0b1000      # N=1 (first true), Z=0 (some true), C=0 (last true)


@needs_mc
def test_adds_sets_nzcv(runner):
    code = asm("adds x0, x1, x2")
    cases = [(5, M64 - 4, 0, 0b0110),          # 5 + -5 = 0 with carry: Z C
             ((1 << 63) - 1, 1, 1 << 63, 0b1001),  # signed overflow: N V
             (3, 4, 7, 0b0000),
             (1 << 63, 0, 1 << 63, 0b1000)]
    for a, b, res, flags in cases:
        st = ArmState(512, x=[0, a, b] + [0] * 28, nzcv=0b1111 << 28)
        out = runner.run(code, st)
        assert out.x[0] == res
        assert out.nzcv == flags << 28, (a, b, hex(out.nzcv))
    # nzcv in comes through to a conditional select
    st = ArmState(512, x=[0, 11, 22] + [0] * 28, nzcv=0b0100 << 28)
    assert runner.run(asm("csel x0, x1, x2, eq"), st).x[0] == 11
    st.nzcv = 0
    assert runner.run(asm("csel x0, x1, x2, eq"), st).x[0] == 22


@needs_mc
def test_memory_window_load_store(runner):
    st = ArmState(512)
    st.mem = bytes(range(256)) * 16
    st.x[0] = MEM_BASE + 64
    st.x[1] = MEM_BASE + 1024
    st.p[0] = b"\xff" * 8
    out = runner.run(asm("ld1w {z3.s}, p0/z, [x0]\n"
                         "st1w {z3.s}, p0, [x1]\n"
                         "ldr x5, [x0, #8]\n"
                         "str x5, [x1, #-8]\n"), st)
    assert out.z[3] == st.mem[64:128]
    assert out.mem[1024:1088] == st.mem[64:128]
    assert out.x[5] == int.from_bytes(st.mem[72:80], "little")
    assert out.mem[1016:1024] == st.mem[72:80]
    assert out.mem[:1016] == st.mem[:1016] and out.mem[1088:] == st.mem[1088:]
    # the window carries no memory between runs: a fresh state sees its own bytes
    st2 = ArmState(512, x=[MEM_BASE + 1024] + [0] * 30)
    assert runner.run(asm("ldr x1, [x0]"), st2).x[1] == 0


@needs_mc
def test_window_at_other_base(runner):
    base = 0x12345000
    st = ArmState(512, mem_base=base, x=[base + 8] + [0] * 30)
    st.mem = bytes(8) + (0x1122334455667788).to_bytes(8, "little") + bytes(MEM_SIZE - 16)
    out = runner.run(asm("ldr x1, [x0]\nstr x1, [x0, #-8]"), st)
    assert out.x[1] == 0x1122334455667788 and out.mem_base == base
    assert out.mem[:8] == out.mem[8:16]
    with pytest.raises(ArmExecError):     # the default window is not mapped now
        runner.run(asm("ldr x1, [x0]"), ArmState(512, x=[MEM_BASE] + [0] * 30, mem_base=base))
    assert runner.run(asm("ldr x1, [x0]"), ArmState(512, x=[MEM_BASE] + [0] * 30,
                                                     mem_base=MEM_BASE)).x[1] == 0


@needs_mc
def test_fpcr_rounding_mode(runner):
    vl = 512
    vals = [2.5, -2.5, 3.5, -0.5] * 4
    st = ArmState(vl)
    st.z[1] = f32(*vals)
    st.p[0] = b"\xff" * 8
    code = asm("frinti z0.s, p0/m, z1.s\nmrs x3, fpcr")
    expect = {0: [2.0, -2.0, 4.0, -0.0],     # RN (ties to even)
              1: [3.0, -2.0, 4.0, -0.0],     # RP
              2: [2.0, -3.0, 3.0, -1.0],     # RM
              3: [2.0, -2.0, 3.0, -0.0]}     # RZ
    for rmode, want in expect.items():
        st.fpcr = rmode << 22
        out = runner.run(code, st)
        assert lanes_f32(out.z[0]) == want * 4, rmode
        assert out.fpcr == rmode << 22 and out.x[3] == rmode << 22
    # the snippet can change FPCR and the change comes back
    out = runner.run(asm("mov x0, #0x800000\nmsr fpcr, x0"), ArmState(vl))
    assert out.fpcr == 0x800000


@needs_mc
@pytest.mark.parametrize("vl", [128, 256, 2048])
def test_other_vector_lengths(runner, vl):
    st = ArmState(vl)
    n = vl // 32
    st.z[1] = f32(*range(n))
    st.z[2] = f32(*[1.0] * n)
    out = runner.run(asm("rdvl x0, #1\ncntw x1\nindex z5.s, #0, #3\n"
                         "fadd z0.s, z1.s, z2.s\nptrue p7.h\n"), st)
    assert out.vl == vl and len(out.z[0]) == vl // 8 and len(out.p[0]) == vl // 64
    assert out.x[0] == vl // 8 and out.x[1] == n
    assert lanes_u32(out.z[5]) == [3 * i for i in range(n)]
    assert lanes_f32(out.z[0]) == [i + 1.0 for i in range(n)]
    assert out.p[7] == pred(vl, 16, [True] * (vl // 16))


@needs_mc
def test_faults_raise(runner):
    st = ArmState(512, x=[0x300000, MEM_BASE + MEM_SIZE - 4] + [0] * 29)
    with pytest.raises(ArmExecError) as e:
        runner.run(asm("nop\nldr x1, [x0]"), st)
    assert e.value.offset == 4 and e.value.address == 0x300000
    assert "0x300000" in str(e.value) and "offset 0x4" in str(e.value)
    # straddling the end of the window
    with pytest.raises(ArmExecError) as e:
        runner.run(asm("ldr x2, [x1]"), st)
    assert e.value.offset == 0
    # writing code is not allowed
    st.x[0] = SNIPPET_ADDR
    with pytest.raises(ArmExecError, match="write"):
        runner.run(asm("str x0, [x0]"), st)
    with pytest.raises(ArmExecError, match="brk") as e:
        runner.run(asm("nop\nnop\nbrk #0x1"), st)
    assert e.value.offset == 8
    with pytest.raises(ArmExecError, match="undefined"):
        runner.run(asm("udf #0"), st)
    with pytest.raises(ArmExecError, match="within 1000 instructions"):
        runner.run(asm("b #0"), st, max_insns=1000)
    with pytest.raises(ArmExecError, match="fetch"):
        runner.run(asm("br x0"), ArmState(512, x=[0x5000000] + [0] * 30))
    # the machine is fine afterwards
    out = runner.run(asm("add x0, x1, #1"), ArmState(512, x=[0, 41] + [0] * 29))
    assert out.x[0] == 42
    with pytest.raises(ValueError):
        runner.run(b"\x00\x00", ArmState(512))
    with pytest.raises(ValueError):
        runner.run(b"", ArmState(512, z=[bytes(32)] * 32))


@needs_mc
def test_scratch_and_snippet_address(runner):
    st = ArmState(512)
    st.x[28] = SCRATCH_BASE
    st.z[3] = bytes(range(64))
    out = runner.run(asm("str z3, [x28, #1, mul vl]\nldr z4, [x28, #1, mul vl]\nadr x0, #0"), st)
    assert out.z[4] == st.z[3]
    assert out.x[0] == SNIPPET_ADDR + 8
    assert out.mem == st.mem
    # literal loads from the code region work (ldr x1, [pc + 8])
    code = asm("ldr x1, #8\nb #12") + (0xDEADBEEFCAFEF00D).to_bytes(8, "little")
    assert runner.run(code, st).x[1] == 0xDEADBEEFCAFEF00D


@needs_mc
def test_code_changes_take_effect(runner):
    st = ArmState(512, x=[0, 5] + [0] * 29)
    long = asm("add x0, x1, #1\n" + "add x0, x0, #1\n" * 20)
    short = asm("sub x0, x1, #1")
    for _ in range(3):
        assert runner.run(long, st).x[0] == 26
        assert runner.run(short, st).x[0] == 4
        assert runner.run(b"", st).x[0] == 0
    res = runner.run_many([long, short, long], [st, st, st])
    assert [r.x[0] for r in res] == [26, 4, 26]


@needs_mc
def test_run_many_errors(runner):
    good = ArmState(512, x=[MEM_BASE] + [0] * 30)
    bad = ArmState(512, x=[0x10] + [0] * 30)
    code = asm("ldr x1, [x0]")
    res = runner.run_many(code, [good, bad, good], errors="return")
    assert isinstance(res[1], ArmExecError) and isinstance(res[0], ArmState)
    with pytest.raises(ArmExecError):
        runner.run_many(code, [good, bad, good])


@needs_mc
def test_unicorn_throughput(runner, capsys):
    rng = random.Random(7)
    states = [random_state(rng, 512) for _ in range(256)] * 8
    for text in ("fadd z0.s, z1.s, z2.s", "fmla z0.s, p1/m, z1.s, z2.s\nadds x0, x1, x2"):
        code = asm(text)
        runner.run_many(code, states[:10])
        t = time.perf_counter()
        runner.run_many(code, states)
        dt = time.perf_counter() - t
        with capsys.disabled():
            print(f"\n  unicorn VL=512 {text.splitlines()[0]!r}...: {len(states) / dt:.0f} snippets/s")


# --- qemu ---------------------------------------------------------------------------------------

SVE_SNIPPETS = [
    "fadd z0.s, z1.s, z2.s",
    "fmla z0.s, p1/m, z1.s, z2.s",
    "fmul z3.d, p2/m, z3.d, z4.d\nfrintx z5.s, p3/m, z6.s",
    "movprfx z7.s, p4/z, z8.s\nfmax z7.s, p4/m, z7.s, z9.s\nfminnm z10.s, p0/m, z10.s, z11.s",
    "cmpgt p5.s, p1/z, z1.s, z2.s\nsel z12.s, p5, z1.s, z2.s\nadds x0, x1, x2\ncset x3, lt",
    "fcvtzs z13.s, p1/m, z1.s\nscvtf z14.s, p1/m, z2.s\nfsqrt z15.s, p2/m, z3.s",
    "and x4, x0, #0x780\nadd x4, x4, x28\nld1w {z16.s}, p1/z, [x4]\nst1w {z1.s}, p2, [x4, #1, mul vl]",
    "uzp1 z17.s, z1.s, z2.s\ntbl z18.b, {z3.b}, z4.b\nfaddv s19, p1, z1.s",
    "whilelo p6.s, x5, x6\nbrkb p7.b, p1/z, p2.b\nptest p1, p7.b\ncsinc x8, x9, x10, ne",
]


@needs_mc
def test_qemu_basics(qemu):
    st = ArmState(512)
    st.z[1] = f32(*range(16))
    st.z[2] = f32(*[0.5] * 16)
    st.x[1], st.x[2] = 5, M64 - 4
    out = qemu.run(asm("fadd z0.s, z1.s, z2.s\nadds x0, x1, x2\nrdvl x3, #1"), st)
    assert lanes_f32(out.z[0]) == [i + 0.5 for i in range(16)]
    assert out.x[0] == 0 and out.nzcv == 0b0110 << 28 and out.x[3] == 64
    rng = random.Random(3)
    for vl in (128, 512, 2048):
        st = random_state(rng, vl)
        q = qemu if vl == 512 else type(qemu)(vl)
        assert same(q.run(b"", st), st)


@needs_mc
def test_qemu_sve2_and_faults(qemu):
    st = ArmState(512)
    st.z[1] = bytes([0xF0] * 64)
    st.z[2] = bytes([0x3C] * 64)
    st.z[3] = bytes([0x55] * 64)
    out = qemu.run(asm("movprfx z0, z1\neor3 z0.d, z0.d, z2.d, z3.d"), st)   # SVE2
    assert out.z[0] == bytes([0xF0 ^ 0x3C ^ 0x55] * 64)
    bad = ArmState(512, x=[0x300000] + [0] * 30)
    st.x[0] = MEM_BASE
    res = qemu.run_many(asm("nop\nldr x1, [x0]"), [st, bad, st], errors="return")
    assert isinstance(res[1], ArmExecError) and res[1].offset == 4 and res[1].address == 0x300000
    assert isinstance(res[0], ArmState) and isinstance(res[2], ArmState)
    with pytest.raises(ArmExecError, match="SIGTRAP"):
        qemu.run(asm("brk #1"), st)
    with pytest.raises(ArmExecError, match="SIGSEGV"):
        qemu.run(asm("str x0, [x0]"), ArmState(512, x=[SNIPPET_ADDR] + [0] * 30))


@needs_mc
def test_unicorn_and_qemu_agree(runner, qemu, capsys):
    rng = random.Random(11)
    states = []
    for _ in range(40):
        st = random_state(rng, 512)
        st.x[28] = MEM_BASE
        st.x[5], st.x[6] = rng.getrandbits(5), rng.getrandbits(5)
        states.append(st)
    codes = [asm(t) for t in SVE_SNIPPETS]
    all_codes = [c for c in codes for _ in states]
    all_states = states * len(codes)
    t = time.perf_counter()
    q = qemu.run_many(all_codes, all_states)
    dt = time.perf_counter() - t
    u = runner.run_many(all_codes, all_states)
    for k, (a, b) in enumerate(zip(u, q)):
        assert a.to_json() == b.to_json(), f"{SVE_SNIPPETS[k // len(states)]!r} state {k % len(states)}"
    with capsys.disabled():
        print(f"\n  qemu VL=512, {len(codes)} snippets: {len(all_states) / dt:.0f} cases/s "
              f"(small batch, includes start-up)")


@needs_mc
def test_qemu_throughput(qemu, capsys):
    rng = random.Random(5)
    states = [random_state(rng, 512) for _ in range(250)] * 20
    code = asm("fmla z0.s, p1/m, z1.s, z2.s\nadds x0, x1, x2")
    qemu.run_many(code, states[:10])
    t = time.perf_counter()
    qemu.run_many(code, states)
    dt = time.perf_counter() - t
    with capsys.disabled():
        print(f"\n  qemu VL=512 batch of {len(states)}: {len(states) / dt:.0f} cases/s")


@needs_mc
@pytest.mark.parametrize("vl", [128, 2048])
def test_unicorn_and_qemu_agree_other_vl(runner, vl):
    from translator.verify.qemu_exec import QemuRunner, qemu_available
    if qemu_available():
        pytest.skip(qemu_available())
    rng = random.Random(vl)
    base = 0x5550000
    states = []
    for _ in range(6):
        st = random_state(rng, vl, mem_base=base)
        st.x[28] = base
        st.x[5], st.x[6] = rng.getrandbits(5), rng.getrandbits(5)
        states.append(st)
    codes = [asm(t) for t in SVE_SNIPPETS]
    all_codes = [c for c in codes for _ in states]
    all_states = states * len(codes)
    with QemuRunner(vl) as q:
        qs = q.run_many(all_codes, all_states, errors="return")
    us = runner.run_many(all_codes, all_states, errors="return")
    for k, (a, b) in enumerate(zip(us, qs)):
        where = f"{SVE_SNIPPETS[k // len(states)]!r} state {k % len(states)}"
        assert isinstance(a, ArmState) and isinstance(b, ArmState), (where, a, b)
        assert a.to_json() == b.to_json(), where
        assert a.mem_base == base
