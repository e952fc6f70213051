"""Issue 3, end to end: real oneDNN AVX-512 kernels (eltwise exp/gelu_erf/tanh, max/avg pooling,
brgemm, conv fwd, softmax/logsoftmax/bf16 softmax, brdgmm (jump table), layer norm, batch norm,
reorders to s8 and bf16), called through their real argument structs. The x86 code runs natively (this host's
AVX-512) and must match numpy; the translated SVE code, called through its AAPCS64 `symbol` entry
under qemu-aarch64 (-cpu max,sve512=on), must match the native run bit for bit (exact NaN mode)
and numpy within the op's tolerance. translator/e2e/KERNELS.md documents the kernels.

Skips: no corpus (../shared/corpus beside the clone, or $X2SVE_CORPUS); no AVX-512 host (native
parts; the SVE side is then compared with recorded x86 output hashes, tests/data/e2e/); no qemu
or cross gcc (SVE parts); a kernel the translator cannot lower yet (named in the skip reason).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from translator.e2e import (GOLDEN as _GOLDEN, KERNELS, digest, E2EError, ReferenceMismatch, Request, bit_diff, corpus_jitdump,
                            load_kernel, native_missing, qemu_missing, run_native, run_qemu)
from translator.e2e.request import decode_request

DATA = Path(__file__).parent / "data" / "e2e"
GOLDEN = _GOLDEN
SEED = 0

NO_CORPUS = corpus_jitdump() is None
NO_NATIVE = native_missing()
NO_QEMU = qemu_missing()
needs_corpus = pytest.mark.skipif(NO_CORPUS, reason="oneDNN corpus not found (../shared/corpus or $X2SVE_CORPUS)")
needs_native = pytest.mark.skipif(bool(NO_NATIVE), reason=f"native x86 AVX-512: {NO_NATIVE}")
needs_qemu = pytest.mark.skipif(bool(NO_QEMU), reason=f"qemu side: {NO_QEMU}")

KEYS = list(KERNELS)


def _case(key):
    return KERNELS[key].make(np.random.default_rng(SEED))


_digest = digest


_native_cache: dict = {}


def _native(key):
    if key not in _native_cache:
        spec = KERNELS[key]
        k = load_kernel(spec)
        case = _case(key)
        _native_cache[key] = (case, run_native(k.code, k.address, case.request))
    return _native_cache[key]


_asm_cache: dict = {}


def _translated_or_skip(key) -> str:
    from translator import UnsupportedError, translate
    if key not in _asm_cache:
        k = load_kernel(KERNELS[key])
        try:
            t = translate(k.code, base=k.address, symbol="kernel", nan_mode="exact", allow_unsupported=False)
            _asm_cache[key] = t.asm()
        except UnsupportedError as ex:
            names = sorted({text.split()[0] for _, _, text, _ in ex.items})
            _asm_cache[key] = ex, names
    r = _asm_cache[key]
    if isinstance(r, tuple):
        ex, names = r
        pytest.skip(f"translator cannot lower {key} yet ({len(ex.items)} instructions: {', '.join(names)}): {ex}")
    return r


# ---------------------------------------------------------------------------------------------
# plumbing that needs neither the corpus nor the translator

def test_request_roundtrip():
    r = Request()
    r.add("args", 0x20)
    r.add("x", np.arange(5, dtype=np.float32), guard_end=True)
    r.pointer("args", 8, "x", 4)
    r.call("args")
    r.call("args")
    bufs, patches, calls = decode_request(r.encode())
    assert bufs == [(bytes(0x20), False), (np.arange(5, dtype=np.float32).tobytes(), True)]
    assert patches == [(0, 8, 1, 4)] and calls == [0, 0]
    with pytest.raises(ValueError):
        r.pointer("args", 0x1c, "x")


def _double_request(n: int, n_struct: int) -> Request:
    r = Request()
    x = np.arange(37, dtype=np.float32) - 3.5
    r.add("args", 0x28)
    r.add("src", x, guard_end=True)
    r.add("dst", np.zeros(37, np.float32), guard_end=True)
    r.pointer("args", 0, "src")
    r.pointer("args", 8, "dst")
    a = bytearray(r.buffers[0].data)
    struct.pack_into("<Q", a, 0x18, n_struct)
    r.buffers[0].data = bytes(a)
    r.call("args")
    return r


@needs_qemu
def test_qemu_driver_runs_hand_written_sve():
    """The driver (buffers, pointer patches, calls, guard pages, fault report) with a hand-written
    SVE kernel: dst[i] = 2 * src[i] for i < n, returns n."""
    asm = (DATA / "sve_double.s").read_text()
    r = _double_request(37, 37)
    res = run_qemu(asm, r)
    assert res.returns == [37]
    assert (res.array("dst") == 2 * (np.arange(37, dtype=np.float32) - 3.5)).all()
    with pytest.raises(E2EError, match=r"signal 11 .*kernel\+0x"):
        run_qemu(asm, _double_request(37, 38))      # one element past the guard_end buffer


@needs_native
def test_native_worker_guard_page():
    # mov rax,[rdi]; mov eax,[rax+0x90]; ret: src's last float (37 of them, ending at the guard page)
    ok = bytes.fromhex("488b07" "8b8090000000" "c3")
    bad = bytes.fromhex("488b07" "8b8094000000" "c3")
    r = _double_request(37, 37)
    res = run_native(ok, 0x10000000, r)
    assert struct.pack("<I", res.returns[0]) == struct.pack("<f", 32.5)
    with pytest.raises(E2EError, match="signal 11"):
        run_native(bad, 0x10000000, r)


# ---------------------------------------------------------------------------------------------
# the real kernels

@needs_corpus
@needs_native
@pytest.mark.parametrize("key", KEYS)
def test_native_x86_matches_numpy(key):
    """Pins down each kernel's semantics and argument struct: the original x86 code, run natively
    through the struct layout we give it, computes the numpy reference."""
    case, res = _native(key)
    case.check_reference(res, f"{key} native x86")


@needs_corpus
@needs_native
def test_native_outputs_match_recorded():
    """The recorded x86 outputs (used where no AVX-512 host exists) are still what the host gives."""
    golden = json.loads(GOLDEN.read_text())
    for key in KEYS:
        case, res = _native(key)
        g = golden[key]
        if g["request"] != _digest(case.request):
            pytest.skip(f"{key}: inputs differ from the recorded ones (numpy random stream changed?)")
        names = [o.buffer for o in case.outputs]
        assert _digest(res, names) == g["outputs"], key


@needs_corpus
@needs_qemu
@pytest.mark.parametrize("key", KEYS)
def test_translated_kernel_runs_under_qemu(key):
    """The translated SVE kernel, through its AAPCS64 entry and the same struct, under qemu with
    512-bit SVE: bit-exact with the native x86 run (or the recorded x86 output) and within the
    op's tolerance of numpy."""
    asm = _translated_or_skip(key)
    case = _case(key)
    sve = run_qemu(asm, case.request)
    names = [o.buffer for o in case.outputs]
    if not NO_NATIVE:
        case_n, nat = _native(key)
        diffs = bit_diff(nat, sve, names)
        assert not diffs, f"{key}: SVE under qemu differs from native x86: " + "; ".join(diffs)
    else:
        g = json.loads(GOLDEN.read_text())[key]
        if g["request"] == _digest(case.request):
            assert _digest(sve, names) == g["outputs"], f"{key}: SVE output differs from the recorded x86 output"
    case.check_reference(sve, f"{key} SVE (qemu)")


# every eltwise kernel of the corpus (records 29..40: relu, leaky relu, gelu_erf, gelu_tanh, tanh,
# logistic, exp, a gather-based one, swish, elu, sqrt, round): SVE vs native x86, bit for bit, on
# random inputs plus specials (no numpy reference needed for this part)

ELTWISE_RECORDS = list(range(29, 41))


@needs_corpus
@needs_native
@needs_qemu
@pytest.mark.parametrize("rec", ELTWISE_RECORDS)
def test_every_eltwise_kernel_bit_exact(rec):
    from translator import UnsupportedError, translate
    from translator.e2e.onednn import ELT_ARGS_SIZE, _records
    k = _records(str(corpus_jitdump()))[rec]
    assert k.name == "jit_uni_kernel"
    try:
        asm = translate(k.code, base=k.address, symbol="kernel").asm()
    except UnsupportedError as ex:
        names = sorted({text.split()[0] for _, _, text, _ in ex.items})
        pytest.skip(f"record {rec}: translator cannot lower {', '.join(names)} yet")
    rng = np.random.default_rng(rec)
    n = 16 * 6 + 7
    x = rng.uniform(-10, 10, n).astype(np.float32)
    x[:14] = [0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 100, -100, 0.5, -0.5, 2.5, 88.5, -88.5]
    r = Request()
    r.add("args", ELT_ARGS_SIZE)
    r.add("src", x, guard_end=True)
    r.add("dst", np.zeros(n, np.float32), guard_end=True)
    r.pointer("args", 0, "src")
    r.pointer("args", 8, "dst")
    a = bytearray(r.buffers[0].data)
    struct.pack_into("<Q", a, 0x18, n)
    r.buffers[0].data = bytes(a)
    r.call("args")
    nat = run_native(k.code, k.address, r)
    sve = run_qemu(asm, r)
    diffs = bit_diff(nat, sve, ["dst", "src"])
    assert not diffs, f"record {rec}: " + "; ".join(diffs)


def test_nan_save_temp_is_not_the_memory_temp():
    """Regression (found by conv_fwd, record 10): with two dead vector registers, the broadcast
    operand took one from the free pool, the NaN quiet constant the other, and the fix-up's copy of the destination then spilled
    *the same register* (the spill path did not know pool temps were in use): fmla read the copy
    of zmm2 instead of the broadcast value."""
    import re as _re
    from translator.decode import decode_one
    from translator.lower import Engine, RegMap, UnitContext, default_tables
    insn = decode_one(bytes.fromhex("62d21d50b85601"), 0x1000)     # vfmadd231ps zmm2,zmm28,[r14+4]{1to16}
    rm = RegMap.for_unit([insn])
    ctx = UnitContext(flags_live_out=set(), outlined=[], free_z=[31, 30])
    lines, _ = Engine(default_tables(), rm).lower(insn, ctx, {})
    ld = next(l for l in lines if l.startswith("ld1rw"))
    bz = _re.search(r"\{(z\d+)\.s\}", ld).group(1)
    fmla = next(l for l in lines if l.startswith("fmla"))
    assert fmla.endswith(f"{bz}.s"), lines
    assert not any(l.startswith(f"mov {bz}.d,") for l in lines), lines
