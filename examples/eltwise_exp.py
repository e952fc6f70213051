"""exp(x) over n floats, oneDNN eltwise-injector style, with a constant table in the code.

C signature:

    void exp_f32(long n, const float *src, float *dst);
                 rdi/x0     rsi/x1           rdx/x2

The constants live after the code (``align(64); L(table); dd(...)``). The kernel reaches them
the two ways oneDNN kernels do: ``mov(reg_table, table)`` (an absolute label address, which the
translator relocates into an ``adr``) plus ``ptr_b[reg_table + off]`` broadcasts, and
rip-relative ``ptr[rip + table + off]`` loads.

Algorithm (as oneDNN's ``exp_compute_vector_fwd``):
    x  = min(max(x, ln(FLT_MIN)), ln(FLT_MAX))
    fx = floor(x * log2(e) + 0.5)                     (vrndscaleps, imm 1 = round down)
    r  = x - fx * ln(2)
    p  = 1 + r*(c1 + r*(c2 + r*(c3 + r*(c4 + r*c5))))   (Horner with vfmadd213ps)
    2^(fx-1) by building the exponent bits (vcvtps2dq, vpaddd 127, vpslld 23), then p*2^(fx-1)*2
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from translator.jit import CodeGenerator, Label, T_NEAR, T_z, ptr, ptr_b  # noqa: E402
from translator.jit import eax, ecx, k1, r8, rdi, rdx, rip, rsi  # noqa: E402
from translator.jit import zmm0, zmm1, zmm2, zmm3, zmm4, zmm5  # noqa: E402

# the table: (name, float32 bit pattern)
TABLE = [
    ("one", 0x3F800000), ("half", 0x3F000000), ("log2e", 0x3FB8AA3B), ("ln2", 0x3F317218),
    ("ln_flt_max", 0x42B17218), ("ln_flt_min", 0xC2AEAC50), ("bias", 127),
    ("c1", 0x3F7FFFFB), ("c2", 0x3EFFFEE3), ("c3", 0x3E2AAD40), ("c4", 0x3D2B9D0D), ("c5", 0x3C07CFCE),
]
OFF = {name: 4 * i for i, (name, _) in enumerate(TABLE)}


class JitExp(CodeGenerator):
    def __init__(self, use_rip: bool = True, **kw):
        super().__init__(**kw)
        self.use_rip = use_rip               # one constant by ptr[rip + table + off] (else via r8)
        self.table = Label()
        self.generate()

    def c(self, name: str):
        """An embedded-broadcast operand of a table constant (through reg_table)."""
        return ptr_b[r8 + OFF[name]]

    def compute(self, vx, t0, t1) -> None:
        """vx = exp(vx); t0, t1 are scratch."""
        self.vminps(vx, vx, self.c("ln_flt_max"))
        self.vmaxps(vx, vx, self.c("ln_flt_min"))
        self.vmovaps(t0, vx)
        self.vfmadd213ps(t0, zmm5, self.c("half"))            # t0 = x*log2e + 0.5 (zmm5 = log2e)
        self.vrndscaleps(t0, t0, 1)                           # fx = floor(t0)
        self.vfnmadd231ps(vx, t0, self.c("ln2"))              # r = x - fx*ln2
        self.vsubps(t0, t0, self.c("one"))                    # fx - 1
        self.vcvtps2dq(t1, t0)
        self.vpaddd(t1, t1, self.c("bias"))
        self.vpslld(t1, t1, 23)                               # 2^(fx-1)
        if self.use_rip:
            self.vbroadcastss(t0, ptr[rip + self.table + OFF["c5"]])   # rip-relative load
        else:
            self.vbroadcastss(t0, ptr[r8 + OFF["c5"]])
        self.vfmadd213ps(t0, vx, self.c("c4"))
        self.vfmadd213ps(t0, vx, self.c("c3"))
        self.vfmadd213ps(t0, vx, self.c("c2"))
        self.vfmadd213ps(t0, vx, self.c("c1"))
        self.vfmadd213ps(t0, vx, self.c("one"))
        self.vmulps(t0, t0, t1)
        self.vaddps(vx, t0, t0)                               # * 2

    def generate(self) -> None:
        reg_n, reg_src, reg_dst = rdi, rsi, rdx
        loop, tail, done = Label(), Label(), Label()
        self.mov(r8, self.table)                              # reg_table = &table
        self.vbroadcastss(zmm5, ptr[r8 + OFF["log2e"]])

        self.L(loop)
        self.cmp(reg_n, 16)
        self.jl(tail, T_NEAR)
        self.vmovups(zmm0, ptr[reg_src])
        self.compute(zmm0, zmm1, zmm2)
        self.vmovups(ptr[reg_dst], zmm0)
        self.add(reg_src, 64)
        self.add(reg_dst, 64)
        self.sub(reg_n, 16)
        self.jmp(loop, T_NEAR)

        self.L(tail)
        self.test(reg_n, reg_n)
        self.jz(done, T_NEAR)
        self.mov(ecx, reg_n.cvt32())
        self.mov(eax, 1)
        self.shl(eax, ecx.cvt8())
        self.sub(eax, 1)
        self.kmovw(k1, eax)
        self.vmovups(zmm3 | k1 | T_z, ptr[reg_src])
        self.compute(zmm3, zmm1, zmm2)
        self.vmovups(ptr[reg_dst] | k1, zmm3)

        self.L(done)
        self.ret()

        self.align(64)
        self.L(self.table)
        for _, bits in TABLE:
            self.dd(bits)


if __name__ == "__main__":
    g = JitExp()
    print(g.asm(symbol="exp_f32"))
