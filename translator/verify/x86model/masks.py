"""AVX-512 opmask instructions: kmov, k-logic, kortest / ktest, kshift.

A k register is 64 bits wide; an instruction of width b/w/d/q (8/16/32/64) writes its low bits
and zeroes the rest.
"""
from __future__ import annotations

from ...ir import Gpr, KReg, Mem
from .core import AF, CF, OF, PF, SF, ZF, Machine

HANDLERS: dict = {}
_W = {"b": 8, "w": 16, "d": 32, "q": 64}


def kmov(mc: Machine, t: str) -> None:
    """kmov k, k/m/r32/r64 ; kmov m, k ; kmov r32/r64, k (zero-extended)."""
    w = _W[t]
    m = (1 << w) - 1
    dst, src = mc.insn.ops
    if isinstance(src, KReg):
        v = mc.kget(src) & m
    elif isinstance(src, Gpr):
        v = mc.get(src) & m
    elif isinstance(src, Mem):
        v = mc.read_int(src, w // 8)
    else:
        raise mc.unmodelled()
    if isinstance(dst, KReg):
        mc.kset(dst, v)
    elif isinstance(dst, Gpr):
        mc.set(Gpr(dst.index, 64), v)            # r32/r64 destinations: zero-extended
    else:
        mc.write_int(dst, v, w // 8)


_KLOGIC = {
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "xnor": lambda a, b: ~(a ^ b), "andn": lambda a, b: ~a & b, "add": lambda a, b: a + b,
}


def klogic(mc: Machine, op: str, t: str) -> None:
    m = (1 << _W[t]) - 1
    dst, a, b = mc.insn.ops
    mc.kset(dst, _KLOGIC[op](mc.kget(a) & m, mc.kget(b) & m) & m)


def knot(mc: Machine, t: str) -> None:
    m = (1 << _W[t]) - 1
    dst, a = mc.insn.ops
    mc.kset(dst, ~mc.kget(a) & m)


def kortest(mc: Machine, t: str) -> None:
    """ZF = (a|b) == 0, CF = (a|b) all ones; OF SF AF PF cleared."""
    m = (1 << _W[t]) - 1
    a, b = mc.insn.ops
    v = (mc.kget(a) | mc.kget(b)) & m
    f = (ZF if v == 0 else 0) | (CF if v == m else 0)
    mc.st.rflags = (mc.st.rflags & ~(CF | PF | AF | ZF | SF | OF)) | f


def ktest(mc: Machine, t: str) -> None:
    """ZF = (a & b) == 0, CF = (~a & b) == 0; OF SF AF PF cleared."""
    m = (1 << _W[t]) - 1
    a, b = (mc.kget(o) & m for o in mc.insn.ops)
    f = (ZF if a & b == 0 else 0) | (CF if ~a & b & m == 0 else 0)
    mc.st.rflags = (mc.st.rflags & ~(CF | PF | AF | ZF | SF | OF)) | f


def kshift(mc: Machine, d: str, t: str) -> None:
    w = _W[t]
    m = (1 << w) - 1
    dst, a, imm = mc.insn.ops
    c = imm.value & 0xFF
    v = mc.kget(a) & m
    r = 0 if c >= w else ((v << c) if d == "l" else (v >> c)) & m
    mc.kset(dst, r)


for _t in "bwdq":
    HANDLERS[f"kmov{_t}"] = (lambda t: lambda mc: kmov(mc, t))(_t)
    HANDLERS[f"knot{_t}"] = (lambda t: lambda mc: knot(mc, t))(_t)
    HANDLERS[f"kortest{_t}"] = (lambda t: lambda mc: kortest(mc, t))(_t)
    HANDLERS[f"ktest{_t}"] = (lambda t: lambda mc: ktest(mc, t))(_t)
    for _d in "lr":
        HANDLERS[f"kshift{_d}{_t}"] = (lambda d, t: lambda mc: kshift(mc, d, t))(_d, _t)
    for _op in _KLOGIC:
        HANDLERS[f"k{_op}{_t}"] = (lambda o, t: lambda mc: klogic(mc, o, t))(_op, _t)
