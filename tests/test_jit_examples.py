"""The examples/ kernels: generate, run the x86 natively and the SVE under unicorn (and once under
qemu-user from C), compare bit for bit (x86 vs SVE) and against numpy.

SVE runs skip, naming the instruction, while the mapping tables cannot lower a kernel yet.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile

import numpy as np
import pytest

from translator.jit import JitUnsupported, run_function, run_native
from translator.jit.runner import build_qemu_program, qemu_available, run_qemu
from translator.oracles import native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_NATIVE = native.available() and native.has_avx512()
needs_native = pytest.mark.skipif(not HAVE_NATIVE, reason="needs an x86-64 host with AVX-512")


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"x2sve_example_{name}", os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


saxpy = _example("saxpy")
gemm = _example("gemm_6x64")
eltexp = _example("eltwise_exp")


def _sve_or_skip(g, symbol: str = "x2sve_jit_fn") -> bytes:
    try:
        return g.arm_code(symbol=symbol)
    except JitUnsupported as ex:
        pytest.skip(f"translator cannot lower this kernel yet: {ex.where}: {ex.text}: {ex.reason}"
                    + (f" (+{len(ex.more)} more)" if ex.more else ""))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32)


def _edge(rng, n: int) -> np.ndarray:
    x = rng.standard_normal(n).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3.4e38], np.float32)
    idx = rng.choice(n, size=min(n, len(specials)), replace=False)
    x[idx] = specials[: len(idx)]
    return x


# ---------------------------------------------------------------------------------------------
# x86 natively vs numpy: the kernels themselves are right

@needs_native
@pytest.mark.parametrize("unroll", [1, 2])
def test_saxpy_native_matches_numpy(unroll):
    g = saxpy.JitSaxpy(unroll=unroll, strict=False)
    rng = np.random.default_rng(unroll)
    for n in (0, 1, 15, 16, 17, 33, 64, 70):
        x = rng.standard_normal(80).astype(np.float32)
        y = rng.standard_normal(80).astype(np.float32)
        a = np.float32(rng.standard_normal())
        want = saxpy.reference(n, a, x, y)
        run_native(g, [n, a, x, y])
        assert (_bits(y) == _bits(want)).all(), n


@needs_native
@pytest.mark.parametrize("broadcast", ["ptr_b", "insn"])
def test_gemm_native_matches_numpy(broadcast):
    g = gemm.JitGemm6x64(broadcast=broadcast, strict=False)
    rng = np.random.default_rng(7)
    for K in (0, 1, 3, 16):
        A = rng.standard_normal(6 * K).astype(np.float32)
        B = rng.standard_normal(K * 64).astype(np.float32)
        C = rng.standard_normal(6 * 64).astype(np.float32)
        want = gemm.reference(K, A, B, C)
        run_native(g, [K, A, B, C])
        assert (_bits(C) == _bits(want)).all(), K


@needs_native
def test_exp_native_close_to_numpy():
    g = eltexp.JitExp(strict=False)
    rng = np.random.default_rng(3)
    x = rng.uniform(-80, 80, 100).astype(np.float32)
    d = np.full_like(x, 7.0)
    run_native(g, [37, x, d])
    want = np.exp(x[:37].astype(np.float64))
    assert np.max(np.abs(d[:37] - want) / want) < 4 * 2.0 ** -23      # a few ulp
    assert (d[37:] == 7.0).all()                                         # masked tail wrote nothing more


# ---------------------------------------------------------------------------------------------
# SVE (unicorn) vs x86 (native): bit-exact

def _check_saxpy(g, rng, n, total, edge=False):
    x = (_edge if edge else lambda r, k: r.standard_normal(k).astype(np.float32))(rng, total)
    y = (_edge if edge else lambda r, k: r.standard_normal(k).astype(np.float32))(rng, total)
    a = np.float32(1.75)
    y_sve = y.copy()
    run_function(g, [n, a, x.copy(), y_sve])
    if HAVE_NATIVE:
        y_x86 = y.copy()
        run_native(g, [n, a, x.copy(), y_x86])
        assert (_bits(y_sve) == _bits(y_x86)).all(), n
    if not edge:
        want = saxpy.reference(n, a, x, y)
        assert (_bits(y_sve) == _bits(want)).all(), n


@pytest.mark.parametrize("unroll", [1, 2])
def test_saxpy_sve(unroll):
    g = saxpy.JitSaxpy(unroll=unroll, strict=False)
    _sve_or_skip(g)
    rng = np.random.default_rng(11)
    for n in (0, 1, 15, 16, 17, 33, 70):
        _check_saxpy(g, rng, n, 80)


def test_saxpy_sve_edge_values():
    g = saxpy.JitSaxpy(strict=False)
    _sve_or_skip(g)
    rng = np.random.default_rng(12)
    for n in (16, 29):
        _check_saxpy(g, rng, n, 40, edge=True)


@pytest.mark.parametrize("broadcast", ["ptr_b", "insn"])
def test_gemm_sve(broadcast):
    g = gemm.JitGemm6x64(broadcast=broadcast, strict=False)
    _sve_or_skip(g)
    rng = np.random.default_rng(5)
    for K in (0, 1, 4, 9):
        A = rng.standard_normal(6 * K).astype(np.float32)
        B = rng.standard_normal(K * 64).astype(np.float32)
        C = rng.standard_normal(6 * 64).astype(np.float32)
        C_sve = C.copy()
        run_function(g, [K, A, B, C_sve])
        assert (_bits(C_sve) == _bits(gemm.reference(K, A, B, C))).all(), K
        if HAVE_NATIVE:
            C_x86 = C.copy()
            run_native(g, [K, A, B, C_x86])
            assert (_bits(C_sve) == _bits(C_x86)).all(), K


@pytest.mark.parametrize("use_rip", [False, True])
def test_exp_sve(use_rip):
    g = eltexp.JitExp(use_rip=use_rip, strict=False)
    _sve_or_skip(g)
    rng = np.random.default_rng(9)
    for n in (5, 16, 37):
        x = rng.uniform(-90, 90, 48).astype(np.float32)
        x[:3] = [0.0, -0.0, 88.0]
        d_sve = np.zeros_like(x)
        run_function(g, [n, x, d_sve])
        want = np.exp(x[:n].astype(np.float64))
        ok = np.abs(x[:n]) < 87
        assert np.all(np.abs(d_sve[:n][ok] - want[ok]) / want[ok] < 4 * 2.0 ** -23)
        assert not d_sve[n:].any()
        if HAVE_NATIVE:
            d_x86 = np.zeros_like(x)
            run_native(g, [n, x, d_x86])
            assert (_bits(d_sve) == _bits(d_x86)).all(), n


# ---------------------------------------------------------------------------------------------
# qemu-user, from C, exactly as the README describes

SAXPY_MAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>

void saxpy(long n, float a, const float *x, float *y);   /* the translated kernel */

int main(int argc, char **argv) {
    long n = atol(argv[1]);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    if (fread(x, sizeof *x, n, stdin) != (size_t)n || fread(y, sizeof *y, n, stdin) != (size_t)n)
        return 2;
    saxpy(n, 1.75f, x, y);
    fwrite(y, sizeof *y, n, stdout);
    return 0;
}
"""


@pytest.mark.skipif(not qemu_available(), reason="needs aarch64-linux-gnu-gcc and qemu-aarch64(-static)")
def test_saxpy_qemu_from_c():
    g = saxpy.JitSaxpy(strict=False)
    _sve_or_skip(g, "saxpy")
    asm = g.asm(symbol="saxpy")
    n = 45
    rng = np.random.default_rng(21)
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        exe = build_qemu_program(asm, SAXPY_MAIN_C, d, "saxpy")
        p = run_qemu(exe, 512, [str(n)], stdin=x.tobytes() + y.tobytes())
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    got = np.frombuffer(p.stdout, np.float32)
    want = y.copy()
    if HAVE_NATIVE:
        run_native(g, [n, np.float32(1.75), x.copy(), want])
    else:
        want = saxpy.reference(n, np.float32(1.75), x, y)
    assert (_bits(got.copy()) == _bits(want)).all()
