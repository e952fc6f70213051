"""Known splat constants: which vector registers hold one constant in every element.

int8 kernels multiply by a vector of ones (``vpmaddwd acc, prod, ones`` sums the word pairs of
``prod``), which they build once: ``xor r14, r14`` / ``mov r14w, 1`` / ``vpbroadcastw zmm29,
r14d``. A rule may ask for an operand to be such a constant (``when: {src2_splat: "w:0x1"}``):
``vpmaddwd`` by ones is then ``sxth`` + ``asr`` + ``add`` instead of two multiplies. ``x2sve
verify`` proves those rules on states whose operand holds the constant (lower bits only: the
claim says nothing above the width).

This module is the forward dataflow that supplies the facts, about x86 architectural state:
- GPRs, as (value, known low bits): ``xor r, r`` / ``sub r, r`` (0), ``mov r32/r64, imm`` (all 64
  bits), ``mov r16/r8l, imm`` (those bits, more when the rest was known); any other write
  forgets the register;
- vectors: an unmasked ``vpbroadcast{b,w,d,q}`` from a known GPR, or from an xmm whose low
  element is known (``movd/movq xmm, r`` of a known GPR: the AVX2 ``mov eax, 1`` / ``movq xmm7,
  rax`` / ``vpbroadcastw ymm7, xmm7``), and a VEX/EVEX ``xor`` of a register with itself (zero),
  give a fact over the destination's width (VEX/EVEX zero the rest); any other write forgets;
- calls forget everything; unit entries and instructions without a known predecessor know
  nothing; where paths meet, only facts equal on every path survive.
A splat fact is ``z: (pattern, bits)``: the 64-bit repeating unit and how many low bits hold
it; ``("low", z): (value, bytes)`` records a known low element only.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Optional

import iced_x86

_INFO = iced_x86.InstructionInfoFactory()
_R = iced_x86.Register
_C = iced_x86.Code
_M = iced_x86.Mnemonic
_OA = iced_x86.OpAccess
_ENC = iced_x86.EncodingKind
_WRITES = {_OA.WRITE, _OA.READ_WRITE, _OA.COND_WRITE, _OA.READ_COND_WRITE}
_M64 = (1 << 64) - 1
_REPEAT = {1: 0x0101010101010101, 2: 0x0001000100010001, 4: 0x0000000100000001, 8: 1}
_BCST = {_M.VPBROADCASTB: 1, _M.VPBROADCASTW: 2, _M.VPBROADCASTD: 4, _M.VPBROADCASTQ: 8}
_ZERO_IDIOM = {_M.VPXOR, _M.VPXORD, _M.VPXORQ, _M.VXORPS, _M.VXORPD, _M.VPSUBB, _M.VPSUBW,
               _M.VPSUBD, _M.VPSUBQ}
_HIGH8 = (_R.AH, _R.CH, _R.DH, _R.BH)


@lru_cache(maxsize=None)
def _gpr(reg) -> Optional[int]:
    """x86 GPR number (0..15) of a general register of any size, else None."""
    if reg == _R.NONE:
        return None
    full = iced_x86.RegisterInfo(reg).full_register
    return full - _R.RAX if _R.RAX <= full <= _R.R15 else None


def _vec(reg) -> Optional[tuple[int, int]]:
    for lo, bits in ((_R.XMM0, 128), (_R.YMM0, 256), (_R.ZMM0, 512)):
        if lo <= reg < lo + 32:
            return reg - lo, bits
    return None


@lru_cache(maxsize=65536)
def effects(raw: bytes):
    """(GPRs written, vectors written, transfer) for one instruction; ``transfer`` is None or
    a function (gpr facts, vector facts) -> the new facts of what this instruction defines."""
    ins = iced_x86.Decoder(64, raw).decode()
    gw, vw = set(), set()
    for u in _INFO.info(ins).used_registers():
        if u.access not in _WRITES:
            continue
        r = u.register
        g = _gpr(r)
        if g is not None:
            gw.add(g)
            continue
        v = _vec(r)
        if v is not None:
            vw.add(v[0])
    return frozenset(gw), frozenset(vw), _transfer(ins)


def _transfer(ins) -> Optional[Callable]:
    """GPR facts are (value, known low bits): ``mov bx, 1`` over an unknown rbx knows 16 bits,
    which is all ``vpbroadcastw zmm, ebx`` reads."""
    m = ins.mnemonic
    if ins.op_count >= 1 and ins.op0_kind == iced_x86.OpKind.REGISTER:
        d = ins.op0_register
        g = _gpr(d)
        if g is not None and m in (_M.XOR, _M.SUB) and ins.op_count == 2 \
                and ins.op1_kind == iced_x86.OpKind.REGISTER and ins.op1_register == d:
            return lambda G, V: ({g: (0, 64)}, {})
        if g is not None and m == _M.MOV and ins.op_count == 2 and ins.op1_kind in (
                iced_x86.OpKind.IMMEDIATE8, iced_x86.OpKind.IMMEDIATE16, iced_x86.OpKind.IMMEDIATE32,
                iced_x86.OpKind.IMMEDIATE32TO64, iced_x86.OpKind.IMMEDIATE64):
            if d in _HIGH8:
                return None
            size = iced_x86.RegisterInfo(d).size
            imm = ins.immediate(1) & _M64
            if size >= 4:                       # 32-bit writes zero-extend
                return lambda G, V: ({g: (imm & ((1 << (8 * size)) - 1), 64)}, {})
            bits = 8 * size
            mask = (1 << bits) - 1

            def merge(G, V):
                old, known = G.get(g, (0, 0))
                if known >= bits:
                    return {g: ((old & ~mask) | (imm & mask), known)}, {}
                return {g: (imm & mask, bits)}, {}
            return merge
        v = _vec(d)
        if v is None or ins.op_mask != _R.NONE:
            return None
        z, bits = v
        if m in (_M.MOVD, _M.MOVQ, _M.VMOVD, _M.VMOVQ) and ins.op_count == 2 \
                and ins.op1_kind == iced_x86.OpKind.REGISTER and _gpr(ins.op1_register) is not None:
            s = _gpr(ins.op1_register)
            nbytes = iced_x86.RegisterInfo(ins.op1_register).size

            def low(G, V):           # the low element of z from a GPR (the rest is not tracked)
                if s in G and G[s][1] >= 8 * nbytes:
                    return {}, {("low", z): (G[s][0] & ((1 << (8 * nbytes)) - 1), nbytes)}
                return {}, {}
            return low
        if ins.encoding not in (_ENC.VEX, _ENC.EVEX):
            return None
        if m in _BCST and ins.op_count == 2 and ins.op1_kind == iced_x86.OpKind.REGISTER \
                and _vec(ins.op1_register) is not None:
            src = _vec(ins.op1_register)[0]
            esize = _BCST[m]
            emask = (1 << (8 * esize)) - 1

            def bcst_vec(G, V):      # vpbroadcastw ymm7, xmm7 after movq xmm7, rax
                f = V.get(("low", src))
                if f is not None and f[1] >= esize:
                    return {}, {z: (((f[0] & emask) * _REPEAT[esize]) & _M64, bits)}
                return {}, {}
            return bcst_vec
        if m in _BCST and ins.op_count == 2 and ins.op1_kind == iced_x86.OpKind.REGISTER:
            s = _gpr(ins.op1_register)
            if s is None:
                return None
            esize = _BCST[m]
            emask = (1 << (8 * esize)) - 1

            def bcst(G, V):
                if s in G and G[s][1] >= 8 * esize:
                    return {}, {z: (((G[s][0] & emask) * _REPEAT[esize]) & _M64, bits)}
                return {}, {}
            return bcst
        if m in _ZERO_IDIOM and ins.op_count == 3 and ins.op1_kind == ins.op2_kind == iced_x86.OpKind.REGISTER \
                and ins.op1_register == ins.op2_register:
            return lambda G, V: ({}, {z: (0, 512)})
    return None


def splat_in(order: list, successors: Callable, entries: set[int]) -> dict[int, tuple[dict, dict]]:
    """For each instruction address: (GPR facts, vector facts) on entry. ``successors`` and
    ``entries`` as in lower/upper.zero_above_in."""
    n = len(order)
    idx = {insn.address: i for i, insn in enumerate(order)}
    succ = [[idx[a] for a in successors(insn) if a in idx] for insn in order]
    has_pred = [False] * n
    for ss in succ:
        for s in ss:
            has_pred[s] = True
    state: list = [None] * n            # None: no path reached it yet (optimistic top)
    for i, insn in enumerate(order):
        if insn.address in entries or not has_pred[i]:
            state[i] = ({}, {})
    changed = True
    while changed:
        changed = False
        for i, insn in enumerate(order):
            if state[i] is None:
                continue
            G, V = state[i]
            if insn.flow in ("call", "indirect_call"):
                out = ({}, {})
            else:
                gw, vw, tr = effects(insn.raw)
                ng, nv = (tr(G, V) if tr else ({}, {}))
                G2 = {k: x for k, x in G.items() if k not in gw}
                V2 = {k: x for k, x in V.items() if (k if isinstance(k, int) else k[1]) not in vw}
                G2.update(ng)
                V2.update(nv)
                out = (G2, V2)
            for s in succ[i]:
                cur = state[s]
                if cur is None:
                    state[s] = (dict(out[0]), dict(out[1]))
                    changed = True
                    continue
                g = {k: x for k, x in cur[0].items() if out[0].get(k) == x}
                v = {k: x for k, x in cur[1].items() if out[1].get(k) == x}
                if g != cur[0] or v != cur[1]:
                    state[s] = (g, v)
                    changed = True
    return {insn.address: (state[i] or ({}, {})) for i, insn in enumerate(order)}


def name(pattern: int) -> str:
    """The splat as a table writes it: the smallest repeating element, ``w:0x1``, ``d:0x3f800000``."""
    for esize, letter in ((1, "b"), (2, "w"), (4, "d"), (8, "q")):
        unit = pattern & ((1 << (8 * esize)) - 1)
        if (unit * _REPEAT[esize]) & _M64 == pattern:
            return f"{letter}:{unit:#x}"
    raise AssertionError(pattern)


def pattern_of(text: str) -> tuple[int, int]:
    """(64-bit pattern, element bytes) of a table's ``w:0x1``."""
    letter, _, val = text.partition(":")
    esize = {"b": 1, "w": 2, "d": 4, "q": 8}[letter]
    return (int(val, 0) * _REPEAT[esize]) & _M64, esize


def splat_context(insn, vfacts: dict) -> Optional[frozenset]:
    """What a lowering may know: (z, splat name) for the instruction's vector register operands
    holding a splat over at least their width. None when nothing is known."""
    from ..ir import Vec
    out = set()
    for op in insn.ops:
        if isinstance(op, Vec) and op.index in vfacts:
            pat, bits = vfacts[op.index]
            if bits >= op.bits:
                out.add((op.index, name(pat)))
    return frozenset(out) or None
