"""AVX512CD ``vpconflictd`` / ``vpconflictq`` and the scalar ``vgetexpss`` / ``vgetexpsd``.

* vpconflict: ``dst[i] = OR of (1 << j) over j < i with src[j] == src[i]`` (SDM VPCONFLICTD/Q),
  the write-mask merging or zeroing per element; memory / ``{1toN}`` sources are read only in the
  active elements (a masked-off element reads nothing). No flags, no MXCSR.
* vgetexpss/sd: element 0 = GetExp(src2[0]) (``ext4.getexp``: QNaN(src) for NaNs, -Inf for +-0,
  +Inf for +-Inf, floor(log2|x|) otherwise, IE for an SNaN, DE for a denormal, DAZ honoured;
  ``{sae}`` suppresses the flags), elements 1..3 of the low 128 bits from src1.

Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from . import fp
from .core import Machine
from .ext4 import getexp
from .vector import fpenv, nelem, raise_fp, scalar_result, scalar_src

HANDLERS: dict = {}


def conflict(mc: Machine, t: str) -> None:
    dst, src = mc.insn.ops
    dt = np.uint32 if t == "d" else np.uint64
    n = nelem(dst, np.dtype(dt).itemsize)
    act = mc.kmask(n)
    x = [int(v) for v in mc.load_vec(src, dt, n, act)]
    r = np.zeros(n, dt)
    for i in range(n):
        r[i] = sum(1 << j for j in range(i) if x[j] == x[i])
    mc.writeback(dst, r)


def getexp_scalar(mc: Machine, t: str) -> None:
    dst, s1, s2 = mc.insn.ops
    F = fp.F32 if t == "s" else fp.F64
    env = fpenv(mc)
    act = mc.kmask(1)
    b = scalar_src(mc, s2, F.utype)
    r, fl = getexp(b, F, env, np.ones(1, bool))
    if act is None or act[0]:
        raise_fp(mc, env, fl)
    scalar_result(mc, dst, s1, int(r[0]), F.utype)


HANDLERS["vpconflictd"] = lambda mc: conflict(mc, "d")
HANDLERS["vpconflictq"] = lambda mc: conflict(mc, "q")
HANDLERS["vgetexpss"] = lambda mc: getexp_scalar(mc, "s")
HANDLERS["vgetexpsd"] = lambda mc: getexp_scalar(mc, "d")
