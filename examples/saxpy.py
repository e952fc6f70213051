"""saxpy, written the way oneDNN writes a jit kernel: y[i] = a * x[i] + y[i].

C signature (System V on x86, AAPCS64 after translation with a symbol):

    void saxpy(long n, float a, const float *x, float *y);
           rdi/x0   xmm0/s0        rsi/x1          rdx/x2

16 floats per iteration with ``vfmadd231ps zmm``; the n % 16 tail runs once with an opmask built
by ``kmovw`` and ``{k}`` loads/stores.

    python examples/saxpy.py            # prints the SVE function
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from translator.jit import CodeGenerator, Label, T_NEAR, T_z  # noqa: E402
from translator.jit import eax, ecx, k1, ptr, rdi, rdx, rsi, xmm0, zmm0, zmm1, zmm2  # noqa: E402


class JitSaxpy(CodeGenerator):
    SIMD_W = 16                              # floats per zmm

    def __init__(self, unroll: int = 1, **kw):
        super().__init__(**kw)
        self.unroll = unroll
        self.generate()

    def generate(self) -> None:
        reg_n, reg_x, reg_y = rdi, rsi, rdx
        vmm_a = zmm0
        step = self.SIMD_W * self.unroll
        main_loop, tail, mask_tail, done = Label(), Label(), Label(), Label()

        self.vbroadcastss(vmm_a, xmm0)

        self.L(main_loop)
        self.cmp(reg_n, step)
        self.jl(tail, T_NEAR)
        for u in range(self.unroll):
            off = u * self.SIMD_W * 4
            self.vmovups(zmm2, ptr[reg_y + off])
            self.vfmadd231ps(zmm2, vmm_a, ptr[reg_x + off])
            self.vmovups(ptr[reg_y + off], zmm2)
        self.add(reg_x, step * 4)
        self.add(reg_y, step * 4)
        self.sub(reg_n, step)
        self.jmp(main_loop, T_NEAR)

        self.L(tail)
        # whole vectors left over by the unroll
        if self.unroll > 1:
            loop16 = Label()
            self.L(loop16)
            self.cmp(reg_n, self.SIMD_W)
            self.jl(mask_tail, T_NEAR)
            self.vmovups(zmm2, ptr[reg_y])
            self.vfmadd231ps(zmm2, vmm_a, ptr[reg_x])
            self.vmovups(ptr[reg_y], zmm2)
            self.add(reg_x, self.SIMD_W * 4)
            self.add(reg_y, self.SIMD_W * 4)
            self.sub(reg_n, self.SIMD_W)
            self.jmp(loop16, T_NEAR)
        self.L(mask_tail)
        self.test(reg_n, reg_n)
        self.jz(done, T_NEAR)
        # k1 = (1 << n) - 1 for 0 < n < 16
        self.mov(ecx, reg_n.cvt32())
        self.mov(eax, 1)
        self.shl(eax, ecx.cvt8())
        self.sub(eax, 1)
        self.kmovw(k1, eax)
        self.vmovups(zmm1 | k1 | T_z, ptr[reg_x])
        self.vmovups(zmm2 | k1 | T_z, ptr[reg_y])
        self.vfmadd231ps(zmm2, vmm_a, zmm1)
        self.vmovups(ptr[reg_y] | k1, zmm2)

        self.L(done)
        self.ret()


def reference(n: int, a, x, y):
    """float32 numpy with one rounding per element (what FMA computes)."""
    import numpy as np
    r = (np.float64(a) * x[:n].astype(np.float64) + y[:n].astype(np.float64)).astype(np.float32)
    out = y.copy()
    out[:n] = r
    return out


if __name__ == "__main__":
    g = JitSaxpy()
    print(g.asm(symbol="saxpy"))
