"""A 6x64 fp32 GEMM micro-kernel in the oneDNN/brgemm style: C[6x64] += A[6xK] * B[Kx64].

C signature:

    void gemm_6x64(long K, const float *A, const float *B, float *C);
                   rdi/x0      rsi/x1         rdx/x2         rcx/x3

Layouts (what a packing routine produces): A is packed k-major, ``A[k*6 + m]``; B is
``B[k*64 + n]``; C is row-major with ldc = 64 floats. 24 zmm accumulators (6 rows x 4 vectors)
stay in registers across the k-loop; every k loads 4 vectors of B and broadcasts each A element
either with an embedded broadcast FMA (``vfmadd231ps(acc, b, ptr_b[A + m*4])``, the default)
or with ``vbroadcastss`` into a register first (``broadcast="insn"``).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from translator.jit import CodeGenerator, Label, T_NEAR, ptr, ptr_b  # noqa: E402
from translator.jit import rcx, rdi, rdx, rsi  # noqa: E402
from translator.jit.operands import REGISTERS  # noqa: E402

M, N_VECS, SIMD_W = 6, 4, 16


def zmm(i: int):
    return REGISTERS[f"zmm{i}"]


class JitGemm6x64(CodeGenerator):
    def __init__(self, broadcast: str = "ptr_b", unroll_k: int = 1, **kw):
        super().__init__(**kw)
        assert broadcast in ("ptr_b", "insn")
        self.broadcast = broadcast
        self.unroll_k = unroll_k
        self.generate()

    @staticmethod
    def acc(m: int, j: int):
        return zmm(8 + m * N_VECS + j)           # zmm8..zmm31

    def generate(self) -> None:
        reg_k, reg_a, reg_b, reg_c = rdi, rsi, rdx, rcx
        k_loop, store = Label(), Label()
        ldc = 64 * 4

        for m in range(M):
            for j in range(N_VECS):
                self.vmovups(self.acc(m, j), ptr[reg_c + m * ldc + j * 64])
        self.test(reg_k, reg_k)
        self.jz(store, T_NEAR)

        self.align(16)
        self.L(k_loop)
        for j in range(N_VECS):
            self.vmovups(zmm(j), ptr[reg_b + j * 64])
        for m in range(M):
            if self.broadcast == "insn":
                bc = zmm(4 + m % 2)
                self.vbroadcastss(bc, ptr[reg_a + m * 4])
                for j in range(N_VECS):
                    self.vfmadd231ps(self.acc(m, j), zmm(j), bc)
            else:
                for j in range(N_VECS):
                    self.vfmadd231ps(self.acc(m, j), zmm(j), ptr_b[reg_a + m * 4])
        self.add(reg_a, M * 4)
        self.add(reg_b, N_VECS * 64)
        self.dec(reg_k)
        self.jnz(k_loop, T_NEAR)

        self.L(store)
        for m in range(M):
            for j in range(N_VECS):
                self.vmovups(ptr[reg_c + m * ldc + j * 64], self.acc(m, j))
        self.ret()


def reference(K: int, A, B, C):
    """numpy float32, k in order, one rounding per FMA (as the kernel computes)."""
    import numpy as np
    out = C.reshape(6, 64).astype(np.float32).copy()
    a = A.reshape(K, 6) if K else A[:0].reshape(0, 6)
    b = B.reshape(K, 64) if K else B[:0].reshape(0, 64)
    for k in range(K):
        out = (a[k][:, None].astype(np.float64) * b[k][None, :].astype(np.float64)
               + out.astype(np.float64)).astype(np.float32)
    return out.reshape(-1)


if __name__ == "__main__":
    g = JitGemm6x64()
    print(g.asm(symbol="gemm_6x64"))
