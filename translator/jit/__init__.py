"""Xbyak-style x86-64 JIT generator whose kernels come out as A64/SVE.

    from translator.jit import *

    class Add(CodeGenerator):
        def __init__(self):
            super().__init__()
            self.vmovups(zmm0, ptr[rdi])
            self.vaddps(zmm0, zmm0, ptr_b[rsi])
            self.vmovups(ptr[rdx], zmm0)
            self.ret()

    g = Add()
    g.x86_code()            # x86-64 bytes (laid out at g.base, 0x10000 by default)
    g.asm(symbol="add")     # GNU-as A64/SVE: an AAPCS64 function with the same C signature
    run_function(g, [a, b, c])   # run it under unicorn (numpy buffers in, copied back)

See ``generator.py`` (CodeGenerator, hook, sve_region), ``operands.py`` (registers, ptr[...],
masking) and ``runner.py`` (unicorn, native x86 and qemu runners).
"""
from .emitter import EncodeProblem, mnemonics
from .generator import DEFAULT_BASE, CodeGenerator, Emitted, JitError, JitUnsupported
from .operands import *                       # noqa: F401,F403 (registers, ptr, T_z ...)
from .operands import __all__ as _ops_all
from .runner import RunError, run_function, run_native

__all__ = ["CodeGenerator", "Emitted", "JitError", "JitUnsupported", "EncodeProblem", "DEFAULT_BASE",
           "mnemonics", "run_function", "run_native", "RunError"] + list(_ops_all)
