"""AVX512CD ``vpconflictd`` / ``vpconflictq`` and the scalar ``vgetexpss`` / ``vgetexpsd``.

* vpconflict: ``dst[i] = OR of (1 << j) over j < i with src[j] == src[i]`` (SDM VPCONFLICTD/Q),
  the write-mask merging or zeroing per element. A memory source is read whole whatever the mask
  (exception class E4NF: no fault suppression): masked-off elements take part in the compares,
  and on this CPU a masked-off element on an unmapped page faults. No flags, no MXCSR.
* vgetexpss/sd: element 0 = GetExp(src2[0]) (``ext4.getexp``: QNaN(src) for NaNs, -Inf for +-0,
  +Inf for +-Inf, floor(log2|x|) otherwise, IE for an SNaN, DE for a denormal, DAZ honoured;
  ``{sae}`` suppresses the flags), elements 1..3 of the low 128 bits from src1.
* roundss/sd, vroundss/sd, vrndscaless/sd (scale imm8[7:4] = 0 only): element 0 = src2[0] rounded
  to an integral value, mode MXCSR.RC if imm8[2] else imm8[1:0]; imm8[3] suppresses PE; NaNs
  quieted (IE for an SNaN); legacy roundss keeps dst's other bits (dst doubles as src1).

Registered into ``HANDLERS`` of the package only where no other module defines the mnemonic.
"""
from __future__ import annotations

import numpy as np

from . import fp
from .core import Machine
from .ext4 import getexp
from .ext import v_round_int
from .vector import fpenv, nelem, raise_fp, scalar_result, scalar_src

HANDLERS: dict = {}


def conflict(mc: Machine, t: str) -> None:
    dst, src = mc.insn.ops
    dt = np.uint32 if t == "d" else np.uint64
    n = nelem(dst, np.dtype(dt).itemsize)
    x = [int(v) for v in mc.load_vec(src, dt, n)]      # whole: no fault suppression (E4NF)
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


def round_scalar(mc: Machine, t: str) -> None:
    ops = mc.insn.ops
    dst, s1, s2, imm = (ops[0], ops[0], ops[1], ops[2]) if mc.legacy else ops
    v = imm.value & 0xFF
    if mc.insn.mnemonic.startswith("vrndscale"):
        if v >> 4:
            raise mc.unmodelled(f"{mc.insn.mnemonic} with a non-zero scale (imm8[7:4])")
    else:
        v &= 0xF                          # (v)roundss/sd read imm8[3:0] only
    F = fp.F32 if t == "s" else fp.F64
    env = fpenv(mc)
    act = mc.kmask(1)
    mode = env.rc if v & 4 else v & 3
    b = scalar_src(mc, s2, F.utype)
    if t == "s":
        r, fl = v_round_int(b, mode, env, bool(v & 8))
    else:
        x = fp.v_daz(b, F, env)
        with np.errstate(all="ignore"):
            r = {fp.RN: np.rint, fp.RD: np.floor, fp.RU: np.ceil, fp.RZ: np.trunc}[mode](x.view(np.float64)).view(np.uint64)
        nan = fp.v_isnan(x, F)
        r = np.where(nan, x | np.uint64(F.qbit), r)
        fl = fp.v_in_flags(F, env, None, x) & ~fp.DE
        if not v & 8 and ((r != x) & ~nan).any():
            fl |= fp.PE
    if act is None or act[0]:
        raise_fp(mc, env, fl)
    scalar_result(mc, dst, s1, int(r[0]), F.utype)


HANDLERS["vpconflictd"] = lambda mc: conflict(mc, "d")
HANDLERS["vpconflictq"] = lambda mc: conflict(mc, "q")
HANDLERS["vgetexpss"] = lambda mc: getexp_scalar(mc, "s")
HANDLERS["vgetexpsd"] = lambda mc: getexp_scalar(mc, "d")
for _t in "sd":
    for _m in ("round", "vround", "vrndscale"):
        HANDLERS[f"{_m}s{_t}"] = (lambda t: (lambda mc: round_scalar(mc, t)))(_t)
