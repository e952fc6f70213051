"""``vrndscaleps`` / ``vrndscalepd`` with a non-zero scale, M = imm8[7:4] (the scale-0 forms are
``ext.py`` / ``ext5.py``, which hand M > 0 over to :func:`rndscale_scaled`).

SDM RoundToIntegerSP/DP: ``2**-M * ROUND(2**M * src)``, ROUND in the mode imm8[1:0], or
MXCSR.RC when imm8[2] is set. NaN: quieted (IE for an SNaN); +-0 and +-Inf unchanged; a finite
result is exact (a multiple of 2**-M no wider than the source), a zero result keeps the source's
sign. Flags: IE for an SNaN, PE when the result differs from the source unless imm8[3] (SPE) is
set; no DE, DAZ flushes denormal sources (the same rules as the scale-0 forms, checked on the CPU
by ``python -m translator conformance``). No handlers of its own: ``ext.py`` / ``ext5.py`` call
:func:`rndscale_scaled`.
"""
from __future__ import annotations

import numpy as np

from . import fp
from .core import Machine
from .ext6 import _X86_RC
from .fp import IE, PE, F32, F64, Fmt, FpEnv
from .vector import fpenv, nelem, raise_fp

def x_rndscale(a: int, imm: int, F: Fmt, env: FpEnv) -> tuple[int, int]:
    M = imm >> 4
    rc = env.rc if imm & 4 else _X86_RC[imm & 3]
    if fp.is_nan(a, F):
        return a | F.qbit, IE if fp.is_snan(a, F) else 0
    a = fp.daz(a, F, env)
    if (a & F.abs_mask) == F.inf or not a & F.abs_mask:
        return a, 0
    s, m, e = fp.unpack(a, F)
    es = e + M
    if es >= 0:                                    # already a multiple of 2**-M
        return a, 0
    q, rem = divmod(m, 1 << -es)
    q = fp._round_int(s, q, rem, 1 << (-es - 1), rc)
    fl = PE if rem and not imm & 8 else 0
    if q == 0:
        return a & F.sign, fl
    r, f2 = fp.round_pack(s, q, -M, F, env)
    assert not f2 & PE, (hex(a), imm)              # exact by construction
    return r, fl


def rndscale_scaled(mc: Machine, F: Fmt) -> None:
    dst, src, imm = mc.insn.ops
    imm = imm.value & 0xFF
    env = fpenv(mc)
    n = nelem(dst, F.bits // 8)
    act = mc.kmask(n)
    a = mc.load_vec(src, F.utype, n, act)
    out = np.zeros(n, F.utype)
    flags = 0
    for i in range(n):
        r, f = x_rndscale(int(a[i]), imm, F, env)
        out[i] = r
        if act is None or act[i]:
            flags |= f
    raise_fp(mc, env, flags)
    mc.writeback(dst, out)
