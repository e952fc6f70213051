"""Random x86 states for verify, rich in edge values.

Every 32-bit (or 64-bit) lane of the vector registers and of the 4 KiB memory window is drawn
from a mix of categories; about two thirds of the lanes are edge values:

    ±0, ±Inf, quiet NaNs and signalling NaNs with random payloads and signs, the x86 default NaN
    (0xFFC00000 / 0xFFF8000000000000), denormals (smallest, largest, random), ±FLT_MAX, ±FLT_MIN,
    ±1.0, small integers as floats, integer patterns (0..16, INT_MIN, INT_MAX, all-ones)
and the rest random bit patterns and random normal floats near 1.0 (so that sums cancel and
products stay in range). ``kind`` picks the lane width: ``"s"`` f32 lanes, ``"d"`` f64 lanes,
anything else a per-register mix of both and of plain random bytes.

GPRs take extremes (0, 1, -1, INT64_MAX, INT64_MIN, 32-bit edges, small and random values);
memory-operand base registers are fixed up by ``place_memory`` so the effective address lands
inside the window. k registers are random 64-bit (the harness trims them to the capacity of each
k's predicate layout); RFLAGS random in CF/PF/AF/ZF/SF/OF; MXCSR 0x1F80 (DAZ/FTZ off), with a
random rounding mode in a quarter of the states when ``fp`` is true. All draws come from a
``numpy.random.Generator`` so a seed reproduces them.
"""
from __future__ import annotations

import numpy as np

from ..ir import GPR64, Insn, Mem, Vec
from .state import MEM_BASE, MEM_SIZE, X86State

M64 = (1 << 64) - 1
FLAG_BITS = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800

_F32 = dict(sign=1 << 31, exp=0x7F800000, man=0x7FFFFF, quiet=0x400000, one=0x3F800000,
            max=0x7F7FFFFF, min=0x00800000, bias=127, mbits=23, dnan=0xFFC00000, dt=np.uint32)
_F64 = dict(sign=1 << 63, exp=0x7FF0000000000000, man=(1 << 52) - 1, quiet=1 << 51,
            one=0x3FF0000000000000, max=0x7FEFFFFFFFFFFFFF, min=0x0010000000000000, bias=1023,
            mbits=52, dnan=0xFFF8000000000000, dt=np.uint64)
_F16 = dict(sign=1 << 15, exp=0x7C00, man=0x3FF, quiet=0x200, one=0x3C00, max=0x7BFF, min=0x0400,
            bias=15, mbits=10, dnan=0xFE00, dt=np.uint16)      # AVX512-FP16 entries (verify: {lanes: h})
N_CAT = 16


def fp_lanes(rng: np.random.Generator, n: int, width: int = 32) -> np.ndarray:
    """n random lanes (uint32 or uint64 bit patterns) drawn from the edge-rich mix."""
    c = {16: _F16, 32: _F32, 64: _F64}[width]
    dt = c["dt"]
    raw = rng.integers(0, 1 << 63, n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    out = (raw >> np.uint64(64 - width)).astype(dt) if width < 64 else raw.copy()   # random bits
    cat = rng.integers(0, N_CAT, n)
    SIGN, EXP, MAN, QUIET = dt(c["sign"]), dt(c["exp"]), dt(c["man"]), dt(c["quiet"])
    for i in range(N_CAT):
        idx = np.flatnonzero(cat == i)
        m = len(idx)
        if not m or i in (10, 11):
            continue
        r = out[idx]
        sign = r & SIGN
        man = r & MAN
        if i == 0:                                      # ±0
            v = sign
        elif i == 1:                                    # ±Inf
            v = sign | EXP
        elif i == 2:                                    # QNaN, random payload (sometimes none)
            v = sign | EXP | QUIET | np.where(r & dt(1), man, dt(0)).astype(dt)
        elif i == 3:                                    # SNaN (payload != 0)
            v = sign | EXP | np.maximum(man & (MAN >> dt(1)), dt(1))
        elif i == 4:                                    # x86 default NaN
            v = np.full(m, c["dnan"], dtype=dt)
        elif i == 5:                                    # denormals: min, max, random
            k = rng.integers(0, 3, m)
            v = sign | np.where(k == 0, dt(1), np.where(k == 1, MAN, np.maximum(man, dt(1)))).astype(dt)
        elif i == 6:                                    # ±MAX / ±MIN(normal)
            v = sign | np.where(r & dt(2), dt(c["max"]), dt(c["min"])).astype(dt)
        elif i == 7:                                    # ±1.0
            v = sign | dt(c["one"])
        elif i == 8:                                    # small integers as floats
            v = rng.integers(-8, 9, m).astype({16: np.float16, 32: np.float32, 64: np.float64}[width]).view(dt)
        elif i == 9:                                    # integer patterns
            v = np.array([0, 1, 2, 3, 7, 16, 1 << (width - 1), (1 << (width - 1)) - 1, (1 << width) - 1, 0xFF],
                         dtype=dt)[rng.integers(0, 10, m)]
        else:                                           # 12..15: normal floats near 1.0
            e = (rng.integers(-8, 9, m) + c["bias"]).astype(dt) << dt(c["mbits"])
            v = sign | e | man
        out[idx] = v
    return out


_GPR_EDGES = [0, 1, M64, (1 << 63) - 1, 1 << 63, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0xFF, 0x80,
              0x7F, 0xFFFF, 0x8000, 2, 3, 0xFFFFFFFF00000000]
_K_EDGES = [0, M64, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA, 1, 1 << 15, 0x8000000000000001, 0xFFFF, 0xFF]


def gpr_value(r) -> int:
    """One GPR value (``r`` is a ``random.Random``)."""
    x = r.random()
    if x < 0.5:
        return r.choice(_GPR_EDGES)
    if x < 0.62:
        return r.randrange(64)
    if x < 0.75:
        return (-r.randrange(1, 64)) & M64
    return r.getrandbits(64)


def k_value(r) -> int:
    return r.choice(_K_EDGES) if r.random() < 0.4 else r.getrandbits(64)


def _gpr_values(rng: np.random.Generator, n: int) -> np.ndarray:
    edges = np.array(_GPR_EDGES, dtype=np.uint64)
    rnd = rng.integers(0, 1 << 63, n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    cat = rng.integers(0, 8, n)
    small = rng.integers(0, 64, n).astype(np.uint64)
    out = np.where(cat < 4, edges[rng.integers(0, len(edges), n)],
                   np.where(cat == 4, small, np.where(cat == 5, (-(small + np.uint64(1))).astype(np.uint64), rnd)))
    return out.astype(np.uint64)


def _k_values(rng: np.random.Generator, n: int) -> np.ndarray:
    edges = np.array(_K_EDGES, dtype=np.uint64)
    rnd = rng.integers(0, 1 << 63, n, dtype=np.uint64) ^ (rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63))
    return np.where(rng.integers(0, 5, n) < 2, edges[rng.integers(0, len(edges), n)], rnd).astype(np.uint64)


def random_states(rng: np.random.Generator, n: int, kind=None, fp: bool = False) -> list[X86State]:
    """n random states (see the module docstring). ``kind``: "s", "d" or None (mixed)."""
    # Lanes come from pools (regenerated per call) sliced at random lane-aligned offsets: much
    # cheaper than fresh lanes for every byte, and each state still sees independent mixes.
    pool_bytes = min(max(n * 1024, 1 << 16), 1 << 20)
    if kind in ("h", "s", "d"):
        width = {"h": 16, "s": 32, "d": 64}[kind]
        pools = [(fp_lanes(rng, pool_bytes * 8 // width, width).tobytes(), width // 8)]
    else:
        pools = [(fp_lanes(rng, pool_bytes // 4, 32).tobytes(), 4),
                 (fp_lanes(rng, pool_bytes // 8, 64).tobytes(), 8),
                 (rng.bytes(pool_bytes), 1)]

    # per state: 32 registers of 64 bytes and 8 memory chunks of 512 bytes
    nch = 32 + MEM_SIZE // 512
    src = rng.integers(0, len(pools), (n, nch)) if len(pools) > 1 else np.zeros((n, nch), dtype=np.int64)
    if len(pools) > 1:
        src = np.where(src == 2, np.where(rng.integers(0, 3, (n, nch)) == 0, 2, rng.integers(0, 2, (n, nch))), src)
    lim = np.array([(len(b) - 512) // 8 for b, _ in pools])
    offs = (rng.integers(0, 1 << 62, (n, nch)) % lim[src]) * 8
    src_l, offs_l = src.tolist(), offs.tolist()
    gprs = _gpr_values(rng, n * 16).reshape(n, 16).tolist()
    ks = _k_values(rng, n * 8).reshape(n, 8).tolist()
    flags = (rng.integers(0, 1 << 12, n) & FLAG_BITS | 0x202).tolist()
    rcs = rng.integers(0, 4, n).tolist()
    use_rc = (rng.integers(0, 4, n) == 0).tolist()
    blobs = [b for b, _ in pools]
    out = []
    for j in range(n):
        sj, oj = src_l[j], offs_l[j]
        zmm = [blobs[sj[i]][oj[i]:oj[i] + 64] for i in range(32)]
        mem = b"".join([blobs[sj[i]][oj[i]:oj[i] + 512] for i in range(32, nch)])
        gpr = dict(zip(GPR64, gprs[j]))
        gpr["rsp"] = 0x7FFF0000
        k = ks[j]
        rflags = flags[j]
        mxcsr = 0x1F80
        if fp and use_rc[j]:
            mxcsr |= rcs[j] << 13
        out.append(X86State(zmm, k, gpr, rflags, mxcsr, MEM_BASE, mem))
    return out


def place_memory(state: X86State, insn: Insn, r, align: int = 1) -> None:
    """Set the base register of each memory operand so that its effective address lies inside
    the window (the whole access fits); offsets favour the window's edges now and then."""
    for op in insn.ops:
        if isinstance(op, Mem) and isinstance(op.index, Vec) and op.base is not None and not op.rip:
            place_vsib(state, insn, op, r)
            continue
        if not isinstance(op, Mem) or op.rip or op.base is None or isinstance(op.index, Vec):
            continue
        size = max(op.size, 1)
        a = max(align, 1)
        if op.elem_bytes and not op.bcst:
            a = max(a, min(op.elem_bytes, size))
        elif op.bcst:
            a = max(a, size)
        hi = (MEM_SIZE - size) // a
        x = r.random()          # r: random.Random
        slot = 0 if x < 0.1 else (hi if x < 0.2 else r.randrange(hi + 1))
        off = slot * a
        ea = state.mem_base + off
        idx = 0
        if op.index is not None:
            if op.index.bits != 64:
                continue
            idx = state.gpr[GPR64[op.index.index]] * op.scale
        base = (ea - op.disp - idx) & M64
        if op.base.bits != 64:
            continue
        state.gpr[GPR64[op.base.index]] = base


def lane_kind(entry) -> str | None:
    """The lane width states should favour for an entry: "s", "d", "h" (``verify: {lanes: h}``,
    the FP16 entries) or None."""
    lanes = (getattr(entry, "verify", None) or {}).get("lanes")
    if lanes in ("h", "s", "d"):
        return lanes
    T = getattr(entry, "T", None)
    return T if T in ("s", "d") else None


def is_fp(entry) -> bool:
    """Whether an entry computes in floating point (then MXCSR.RC is varied)."""
    if getattr(entry, "nan", None) or (getattr(entry, "verify", None) or {}).get("lanes") == "h":
        return True
    return any(m.endswith(("ps", "pd", "ss", "sd")) and not m.startswith(("vmov", "mov", "vbroadcast"))
               for m in entry.mnemonics)


def place_vsib(state: X86State, insn: Insn, op: Mem, r) -> None:
    """A VSIB (gather) operand: set the base register and every dword lane of the index register
    so that each element address base + sext(idx[i])*scale + disp lies inside the window (whole
    element). base + disp is sometimes far from the window (large positive or negative indices,
    exercising the 32-bit sign extension), and now and then one lane points outside the window
    (a fault when that element is active) or straddles its end."""
    mn = insn.mnemonic
    es = 8 if mn in ("vgatherdpd", "vpgatherdq", "vgatherqpd", "vpgatherqq") or (
        "scatter" in mn and mn.endswith(("dq", "qq", "dpd", "qpd"))) else 4
    ies = 8 if mn.startswith(("vgatherq", "vpgatherq", "vscatterq", "vpscatterq")) else 4   # index size
    sc = op.scale
    nidx = op.index.bits // (8 * ies)
    lim = (1 << 31) - 2 * MEM_SIZE
    q0 = 0 if r.random() < 0.6 else r.randrange(-lim, lim)          # index centre
    b0 = r.randrange(-MEM_SIZE, 2 * MEM_SIZE) - q0 * sc                # (base + disp) - window
    aligned = r.random() < 0.75
    idx = []
    for _ in range(nidx):
        if aligned:
            off = r.randrange((MEM_SIZE - es) // es + 1) * es
            off -= (off - b0) % sc                                      # reachable: b0 + q*sc
            if off < 0:
                off += sc
        else:
            off = r.randrange(MEM_SIZE - es + 1)
            off -= (off - b0) % sc
            if off < 0:
                off += sc
        idx.append((off - b0) // sc)
    if "scatter" in mn and r.random() < 0.4:      # scatters: overlapping elements (x86 writes in order)
        for _ in range(r.randrange(1, nidx + 1)):
            a, b = r.randrange(nidx), r.randrange(nidx)
            q = idx[a] + (r.randrange(-(es // sc) + 1, es // sc) if sc < es and r.random() < 0.5 else 0)
            if 0 <= b0 + q * sc <= MEM_SIZE - es:
                idx[b] = q
    x = r.random()
    if x < 0.06:                                                        # one lane outside
        i = r.randrange(nidx)
        # (not just below the window: the Arm side keeps its code there, readable)
        off = r.choice([-(1 << 22), MEM_SIZE, MEM_SIZE + (1 << 20), MEM_SIZE - es + 1, MEM_SIZE - 1])
        q = (off - b0) // sc
        if -(1 << 31) <= q < (1 << 31):
            idx[i] = q
    ea_base = (state.mem_base + b0) & M64
    state.gpr[GPR64[op.base.index]] = (ea_base - op.disp) & M64
    raw = b"".join((q & ((1 << (8 * ies)) - 1)).to_bytes(ies, "little") for q in idx)
    z = state.zmm[op.index.index]
    state.zmm[op.index.index] = raw + z[len(raw):]
