"""Mapping an x86 state onto the translation's Arm state, and comparing the results.

x86 -> Arm (``to_arm``):
- z_i = zmm_i. At VL 512 exactly; at a longer VL zmm fills the low 64 bytes and the rest is
  random; at a shorter VL z_i holds the low VL/8 bytes.
- each k register the snippet's register map places (``regmap.k_pred``) is encoded with
  ``k_to_pred_bytes`` in its home layout; every other predicate is random (the set-up writes the
  constant predicates the translation relies on).
- x registers: the GPRs as ``regmap.GPR_TO_X`` places them, x28 = ``SCRATCH_BASE``, the others random.
- NZCV from RFLAGS through the snippet's ``flags_in`` (``Z``/``N``/``V``/``C``/``!C``); PF in
  ``P`` (flags.py) is x27 = a random value whose low byte has PF's parity.
- FPCR.RMode from MXCSR.RC (x86 RC 0 RN, 1 RD, 2 RU, 3 RZ -> RMode 0, 2, 1, 3); DN/FZ off.
- the memory window is copied at the same ``mem_base``.

Comparison (``compare``), first difference wins, in this order:
- zmm vs z, bit-exact over the low min(64, VL/8) bytes. Below VL 512 the x86 state starts with
  zeros above VL (the harness clears them) and any non-zero x86 result there is a difference. A z register that the instruction does not
  name and whose zmm the model left unchanged is a translator temporary: ignored.
- each placed k vs its predicate: the predicate must equal ``k_to_pred_bytes(k_out)`` exactly (bits
  outside the layout must be zero; a k value wider than the layout's capacity is a difference).
- all 16 GPRs vs their x registers.
- flags: each flag in ``snippet.flags_out`` (decoded from NZCV, or the constant) vs the model's
  RFLAGS, unless the model says the flag is undefined for this instruction and state.
- FPCR must come back unchanged (embedded rounding restores it), but for RMode, which must hold
  the resulting MXCSR.RC (ldmxcsr).
- the memory window, bit-exact.
With ``nan_mode="fast"`` a vector or memory lane of the entry's element size may differ only when
both sides hold a NaN (any payload or sign): the documented bound of fast mode, and nothing more.
"""
from __future__ import annotations

import random
from typing import Optional

import numpy as np

from ..ir import GPR64, Mem, Vec
from ..lower.regmap import GPR_TO_X, X_CTX, X_PF, k_to_pred_bytes, pred_bytes_to_k
from .arm_exec import SCRATCH_BASE
from .state import ArmState, X86State

M64 = (1 << 64) - 1
FLAG_BIT = {"CF": 0x1, "PF": 0x4, "AF": 0x10, "ZF": 0x40, "SF": 0x80, "OF": 0x800}
NZCV_BIT = {"N": 31, "Z": 30, "C": 29, "V": 28}
RC_TO_RMODE = {0: 0, 1: 2, 2: 1, 3: 3}
_X_OF = [(name, GPR_TO_X[name]) for name in GPR64]


def nzcv_from_rflags(rflags: int, flags_in: dict) -> int:
    v = 0
    for flag, loc in flags_in.items():
        if loc not in ("Z", "N", "V", "C", "!C"):
            continue
        bit = bool(rflags & FLAG_BIT[flag])
        if loc == "!C":
            bit = not bit
        if bit:
            v |= 1 << NZCV_BIT[loc.lstrip("!")]
    return v


def pf_of(x: int) -> int:
    """x86 PF of a value: 1 when its low byte has an even number of ones (flags.py ``P``)."""
    return int(bin(x & 0xFF).count("1") % 2 == 0)


def flag_from_nzcv(nzcv: int, loc: str) -> Optional[int]:
    if loc in ("0", "1"):
        return int(loc)
    if loc not in ("Z", "N", "V", "C", "!C"):
        return None
    b = nzcv >> NZCV_BIT[loc.lstrip("!")] & 1
    return b ^ 1 if loc == "!C" else b


def used_vec_regs(insn) -> set[int]:
    s = set()
    for op in insn.ops:
        if isinstance(op, Vec):
            s.add(op.index)
        elif isinstance(op, Mem) and isinstance(op.index, Vec):
            s.add(op.index.index)
    return s


def to_arm(st: X86State, snip, vl: int, r: random.Random) -> ArmState:
    nb = vl // 8
    if nb == 64:
        z = list(st.zmm)
    elif nb > 64:
        z = [zz + r.randbytes(nb - 64) for zz in st.zmm]
    else:
        z = [zz[:nb] for zz in st.zmm]
    pb = vl // 64
    blob = r.randbytes(16 * pb)
    p = [blob[i * pb:(i + 1) * pb] for i in range(16)]
    rm = snip.regmap
    for k, pi in rm.k_pred.items():
        p[pi] = k_to_pred_bytes(st.k[k], rm.layout_of_k(k), vl)
    x = [r.getrandbits(64) for _ in range(31)]
    g = st.gpr
    for name, xi in _X_OF:
        x[xi] = g[name] & M64
    x[X_CTX] = SCRATCH_BASE
    nzcv = nzcv_from_rflags(st.rflags, snip.flags_in)
    if snip.flags_in.get("PF") == "P":
        x[X_PF] ^= pf_of(x[X_PF]) ^ bool(st.rflags & FLAG_BIT["PF"])   # bit 0 flips the parity
    fpcr = RC_TO_RMODE[(st.mxcsr >> 13) & 3] << 22
    return ArmState(vl, z, p, x, nzcv, fpcr, st.mem_base, st.mem)


def _nan_lanes_ok(xb: bytes, ab: bytes, T: str) -> bool:
    """Fast NaN mode: lanes differ only where both are NaN."""
    if T == "s":
        dt, ex, mn = np.uint32, 0x7F800000, 0x7FFFFF
    elif T == "d":
        dt, ex, mn = np.uint64, 0x7FF0000000000000, (1 << 52) - 1
    elif T == "h":                      # AVX512-FP16 (fp16.yaml)
        dt, ex, mn = np.uint16, 0x7C00, 0x3FF
    else:
        return False
    w = np.dtype(dt).itemsize
    n = len(xb) // w * w
    if xb[n:] != ab[n:]:
        return False
    a = np.frombuffer(xb[:n], dtype=dt)
    b = np.frombuffer(ab[:n], dtype=dt)
    diff = a != b
    ex, mn = dt(ex), dt(mn)
    a_nan = ((a & ex) == ex) & ((a & mn) != 0)
    b_nan = ((b & ex) == ex) & ((b & mn) != 0)
    return bool(np.all(~diff | (a_nan & b_nan)))


def _diff(reg: str, x86, arm, note: str = "") -> dict:
    def fmt(v):
        return v.hex() if isinstance(v, (bytes, bytearray)) else (hex(v) if isinstance(v, int) else v)
    d = {"register": reg, "x86_value": fmt(x86), "arm_value": fmt(arm)}
    if note:
        d["note"] = note
    return d


def compare(insn, snip, x_in: X86State, x_out: X86State, undef: int, a_in: ArmState, a_out: ArmState,
            vl: int, relax_T: Optional[str] = None, used_z: Optional[set] = None) -> Optional[dict]:
    """The first difference between the model's result and the translation's, or None."""
    nb = min(64, vl // 8)
    used = used_z if used_z is not None else used_vec_regs(insn)
    xz, az, iz = x_out.zmm, a_out.z, x_in.zmm
    for i in range(32):
        xv, av = xz[i][:nb], az[i][:nb]
        if xv == av:
            continue
        if i not in used and xz[i] == iz[i]:
            continue                                   # a translator temporary
        if relax_T and _nan_lanes_ok(xv, av, relax_T):
            continue
        return _diff(f"zmm{i}", xv, av)
    if nb < 64:
        # a VL below 512 bits cannot hold more: the state starts zero above VL (harness), so
        # x86 results there are data the translation has lost
        zero = bytes(64 - nb)
        for i in range(32):
            if xz[i][nb:] != zero and xz[i][nb:] != iz[i][nb:]:
                return _diff(f"zmm{i}[{nb}:64]", xz[i][nb:], zero,
                             f"x86 result above VL {vl} that the translation cannot hold")
    rm = snip.regmap
    for k, pi in sorted(rm.k_pred.items()):
        L = rm.layout_of_k(k)
        want = x_out.k[k] & M64
        cap = rm.k_capacity(k)
        got = pred_bytes_to_k(a_out.p[pi], L, vl)
        if cap < 64 and want >> cap:
            return _diff(f"k{k}", want, got, f"x86 value exceeds the {cap}-bit capacity of layout {L} (p{pi})")
        if a_out.p[pi] != k_to_pred_bytes(want, L, vl):
            note = "" if got != want else f"stray predicate bits outside layout {L}: p{pi}={a_out.p[pi].hex()}"
            return _diff(f"k{k}", want, got, note)
    g = x_out.gpr
    ax = a_out.x
    for name, xi in _X_OF:
        if g[name] & M64 != ax[xi]:
            return _diff(name, g[name] & M64, ax[xi], f"x{xi}")
    for flag, loc in snip.flags_out.items():
        bit = FLAG_BIT.get(flag)
        if bit is None or undef & bit:
            continue
        got = pf_of(ax[X_PF]) if loc == "P" else flag_from_nzcv(a_out.nzcv, str(loc))
        if got is None:
            continue
        want = int(bool(x_out.rflags & bit))
        if got != want:
            return _diff(flag, want, got, f"flags_out {flag}->{loc}, nzcv={a_out.nzcv >> 28:04b}")
    want_fpcr = (a_in.fpcr & ~(3 << 22)) | RC_TO_RMODE[(x_out.mxcsr >> 13) & 3] << 22
    if a_out.fpcr != want_fpcr:       # RMode follows MXCSR.RC (ldmxcsr); nothing else changes
        return _diff("fpcr", want_fpcr, a_out.fpcr,
                     "FPCR not restored" if want_fpcr == a_in.fpcr else "FPCR.RMode is not the new MXCSR.RC")
    if x_out.mem != a_out.mem:
        if not (relax_T and _nan_lanes_ok(x_out.mem, a_out.mem, relax_T)):
            off = next(i for i, (p, q) in enumerate(zip(x_out.mem, a_out.mem)) if p != q)
            o = off & ~7
            return _diff(f"mem[{off:#x}]", x_out.mem[o:o + 8], a_out.mem[o:o + 8],
                         f"window offset {off:#x} (8 bytes from {o:#x} shown)")
    return None
