"""Fused x86 sequences: the int8 dot product of AVX-512 without VNNI (escape hatch ``int8_dot``).

oneDNN's int8 kernels for AVX-512 cores without VNNI (``jit_avx512_core_x8s8s32x_*``, brgemm)
compute ``acc += u8 . s8`` over groups of four bytes with three instructions, the *dot triple*:

    vpmaddubsw zT, zA, zB       ; T.i16 = sat16(A.u8[2i]*B.s8[2i] + A.u8[2i+1]*B.s8[2i+1])
    vpmaddwd   zT, zT, zONES    ; T.i32 = T.i16[2i] + T.i16[2i+1]   (ONES: every word 1)
    vpaddd     zACC, zACC, zT

Lowered one by one that is 5..7 + 3 + 1 A64 instructions, because the pair sums saturate to 16
bits and SVE has no mixed-sign dot product. The saturation can only happen when a signed byte of
B lies outside [-64, 63] (|u8 * s8| <= 255 * 64, and two of those stay below 2^15), and oneDNN
keeps its weights in that range on these cores (the "weights scale adjust" of 0.5 that avoids
exactly this overflow). So a run of triples in one straight-line stretch becomes, with
``B' = B + 64`` (so that B' is an unsigned byte) and ``SA = 64 * (a0+a1+a2+a3)``:

    add     zB.b, zB.b, #64          ; every B of the group, in place
    cmplt   pT.b, pall/z, zB.b, #0   ; (orr of all B' into zT first when there are several)
    b.ne    .Lx2sve_dotN             ; a byte of B outside [-64, 63]: the exact slow path
    dup     zONES.b, #64             ; the ones register holds the bias inside the group
    dup     zT.s, #0                 ; per broadcast A: SA
    udot    zT.s, zA.b, zONES.b
    udot    zACC.s, zA.b, zB.b       ; per triple: acc += sum a*(b+64) - 64*sum a
    sub     zACC.s, zACC.s, zT.s
    sub     zB.b, zB.b, #64          ; at the end, for each B still live
    dup     zONES.h, #1              ; if the ones are still live (ymm: mov zONES.h, pw/z, #1)
  .Lx2sve_dotNr:

The slow path (out of line) restores every B and runs the group's own per-instruction lowering,
so a B with a byte outside the range costs a branch, never a wrong result. T must be dead after
the group and NZCV dead at its start; the ones register needs no spare register because its
value is known (lower/splat.py) and is rebuilt with one ``dup``. Lines that save and reload a
register borrowed over a run (lower/borrow.py) stay where they were.

Conditions (``find_groups``): unmasked register forms, all 512-bit (EVEX) or all 256-bit (VEX;
then A, ACC and ONES must be known zero above bit 255, lower/upper.py, so that the udot leaves
ACC's upper lanes zero as VEX does); ONES known to be the word splat 1; T, A, B, ONES, ACC
distinct per triple; one T and one ONES per group; no instruction between triples touches a B,
T or ONES (nor names them as temporaries), and none branches or has a label; a group's Bs are
not written inside it and no B is another triple's A or ACC. A group is only fused when that
is shorter than the per-instruction lowering.

Proof: verify/peephole_check.py runs each fused group against the unfused lowering (which
``x2sve verify`` proves per form) on states whose bytes are drawn both from the whole range
(slow path) and from [-64, 63] (fast path), tests/test_fuse.py runs the fused code against the
x86 model, and the e2e int8 kernels (AVX2 GEMM, AVX-512 convolutions with 7-bit weights) run
bit-exact against native x86 with every slow path trapping (``slow_paths_trapping``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional

import re

from ..ir import Insn, Vec

WEIGHT_BIAS = 64        # B + 64 is an unsigned byte exactly when B lies in [-64, 63]


@dataclass(frozen=True)
class Triple:
    """One ``vpmaddubsw / vpmaddwd / vpaddd`` triple at ``index`` (of the unit's address order)."""
    index: int
    t: int
    a: int
    b: int
    ones: int
    acc: int
    bits: int = 512


@dataclass
class Group:
    """A run of triples in one stretch, from ``first`` to ``last`` (indices, inclusive)."""
    first: int
    last: int
    t: int
    ones: int
    triples: list[Triple] = field(default_factory=list)
    bits: int = 512
    bs: list[int] = field(default_factory=list)         # in first-use order


class Fused(NamedTuple):
    """What translation validation needs to know of a fused group (or merged NaN checks,
    lower/nancheck.py)."""
    dead: frozenset                 # registers left different from the per-instruction lowering (dead)
    ones: Optional[int] = None      # the z register the group assumes holds the word splat 1 ...
    bits: int = 512                 # ... in its low ``bits`` (zero above)


def _plain(insn: Insn, mnemonic: str, bits: int) -> bool:
    """An unmasked VEX/EVEX form whose operands are all registers of ``bits``."""
    return (insn.mnemonic == mnemonic and insn.encoding in ("vex", "evex") and not insn.mask
            and len(insn.ops) == 3 and all(isinstance(o, Vec) and o.bits == bits for o in insn.ops))


def match_triple(seq: list[Insn], n: int, starts: list[bool], splats: dict) -> Optional[Triple]:
    """The dot triple starting at ``seq[n]``, or None."""
    if n + 2 >= len(seq) or starts[n + 1] or starts[n + 2]:
        return None
    i1, i2, i3 = seq[n], seq[n + 1], seq[n + 2]
    bits = i1.ops[0].bits if i1.ops and isinstance(i1.ops[0], Vec) else 0
    if bits not in (256, 512) or not (_plain(i1, "vpmaddubsw", bits) and _plain(i2, "vpmaddwd", bits)
                                      and _plain(i3, "vpaddd", bits)):
        return None
    t, a, b = (o.index for o in i1.ops)
    d2, x, y = (o.index for o in i2.ops)
    ones = y if x == t else x if y == t else None
    d3, x, y = (o.index for o in i3.ops)
    acc = y if x == t else x if y == t else None
    if d2 != t or ones is None or acc != d3 or (ones, "w:0x1") not in (splats.get(i2.address) or ()):
        return None
    if len({t, a, b, ones, acc}) != 5:
        return None
    return Triple(n, t, a, b, ones, acc, bits)


def _ymm_ok(seq: list[Insn], tr: Triple, zero_above: Callable[[int], int]) -> bool:
    """A VEX.256 triple zeroes its accumulator above bit 255; the fused udot leaves those lanes
    as they were, plus A's upper lanes times B's. Both are zero when A and the accumulator are
    known zero above 256 (lower/upper.py); the ones register must be too, so that it can be
    restored (``mov z.h, pw/z, #1``)."""
    return (zero_above(seq[tr.index].address) >> tr.a & 1 and zero_above(seq[tr.index + 2].address) >> tr.acc & 1
            and zero_above(seq[tr.index + 1].address) >> tr.ones & 1)


def find_groups(seq: list[Insn], starts: list[bool], splats: dict, vlive: dict,
                flags_live: dict, touched: Callable[[Insn], tuple[frozenset, frozenset]],
                plain: Callable[[int], bool], names: Callable[[int], set],
                zero_above: Optional[Callable[[int], int]] = None) -> list[Group]:
    """Groups of dot triples. ``touched(insn)`` = (z read, z written); ``plain(i)``: the lowered
    body of ``seq[i]`` is straight-line code; ``names(i)``: the registers it names;
    ``zero_above(address)``: a mask of the z registers known zero above bit 255 on entry there
    (needed for the VEX.256 form; without it only 512-bit triples are fused)."""
    groups: list[Group] = []

    def usable(tr: Optional[Triple]) -> bool:
        return tr is not None and (tr.bits == 512 or (zero_above is not None and _ymm_ok(seq, tr, zero_above)))
    n = 0
    while n < len(seq):
        tr = match_triple(seq, n, starts, splats)
        if (not usable(tr) or flags_live.get(seq[n].address)
                or not all(plain(i) for i in range(n, n + 3))):
            n += 1
            continue
        g = Group(n, n + 2, tr.t, tr.ones, triples=[tr], bs=[tr.b], bits=tr.bits)
        written: set[int] = {tr.t, tr.acc}
        used_a: set[int] = {tr.a}
        m = n + 3
        while m < len(seq) and not starts[m]:
            nt = match_triple(seq, m, starts, splats)
            if (usable(nt) and (nt.t, nt.ones, nt.bits) == (g.t, g.ones, g.bits)
                    and all(plain(i) for i in range(m, m + 3))):
                new_b = nt.b not in g.bs
                if (nt.a in g.bs or nt.acc in g.bs or (new_b and (nt.b in written or nt.b in used_a))):
                    break
                g.triples.append(nt)
                if new_b:
                    g.bs.append(nt.b)
                written |= {nt.t, nt.acc}
                used_a.add(nt.a)
                g.last = m + 2
                m += 3
                continue
            rd, wr = touched(seq[m])
            mine = set(g.bs) | {g.t, g.ones}
            if (not plain(m) or seq[m].flow != "next" or (rd | wr) & mine
                    or names(m) & {f"z{z}" for z in mine}):
                break
            written |= wr
            m += 1
        if g.t in vlive.get(seq[g.last].address, ()):
            n += 1          # T is read after the group: leave it to the per-instruction lowering
            continue
        groups.append(g)
        n = g.last + 1
    return groups


def fuse(seq: list[Insn], bodies: list[list[str]], groups: list[Group], *, p_all: int,
         p_temps: list[int], p_width: dict, vlive: dict, touched, outlined: list[str], number: list[int],
         pre: dict | None = None, post: dict | None = None, starts: list[bool] | None = None,
         plain: Callable[[int], bool] | None = None, names: Callable[[int], set] | None = None) -> dict:
    """Rewrite ``bodies`` (in place) for each group that is shorter fused; append the slow paths
    to ``outlined``. ``pre``/``post``: lines around an instruction's body that save and reload
    registers borrowed over a run (lower/borrow.py); the fast path keeps them where they stood.
    ``starts``: where straight-line stretches start; consecutive groups of one stretch with the
    same ones register form a *chain*: the ones keep the bias bytes from one group to the next
    (the slow paths rebuild what the next one expects); ``plain``/``names`` as for
    ``find_groups`` decide whether the instructions between two groups allow it. Returns
    {slow-path label: Fused}."""
    pre, post = pre or {}, post or {}
    fused = [g for g in groups if _shorter(g, seq, bodies, pre, post, p_all, p_temps, p_width, vlive)]
    links = [False] + [_chains(a, b, seq, starts, touched, plain, names) for a, b in zip(fused, fused[1:])]
    done: dict = {}
    for n, g in enumerate(fused):
        number[0] += 1
        chain_in, chain_out = links[n], n + 1 < len(links) and links[n + 1]
        new, slow, fu = _emit(g, seq, bodies, pre, post, p_all, p_temps, p_width, vlive, touched,
                              number[0], chain_in, chain_out)
        outlined += slow
        for i, b in new.items():
            bodies[i] = b
        done[slow[0][:-1]] = fu
    return done


def _ones(g: Group, p_width: dict) -> str:
    """The line that rebuilds the group's ones register (its value is known: lower/splat.py)."""
    return f"dup z{g.ones}.h, #1" if g.bits == 512 else f"mov z{g.ones}.h, p{p_width[g.bits]}/z, #1"


def _shorter(g: Group, seq, bodies, pre, post, p_all, p_temps, p_width, vlive) -> bool:
    new, _, _ = _emit(g, seq, bodies, pre, post, p_all, p_temps, p_width, vlive, lambda i: (set(), set()),
                      0, False, False)
    return sum(map(len, new.values())) - 1 < sum(len(bodies[i]) for i in range(g.first, g.last + 1))


def _chains(a: Group, b: Group, seq, starts, touched, plain, names) -> bool:
    """Group ``b`` may find the bias bytes ``a`` left in the ones register: same stretch, and
    nothing between them branches, is unmodelled or touches the ones register."""
    if starts is None or plain is None or names is None or (a.ones, a.bits) != (b.ones, b.bits):
        return False
    if any(starts[k] for k in range(a.last + 1, b.first + 1)):
        return False
    for k in range(a.last + 1, b.first):
        rd, wr = touched(seq[k])
        if seq[k].flow != "next" or a.ones in rd | wr or not plain(k) or f"z{a.ones}" in names(k):
            return False
    return True


def _emit(g: Group, seq, bodies, pre, post, p_all, p_temps, p_width, vlive, touched, number: int,
          chain_in: bool, chain_out: bool):
    """(new bodies by index, the slow path's lines, Fused) of one group."""
    p_temp = p_temps[0]
    slow, ret = f".Lx2sve_dot{number}", f".Lx2sve_dot{number}r"
    span = range(g.first, g.last + 1)
    after = vlive.get(seq[g.last].address, frozenset())
    restore = [f"sub z{b}.b, z{b}.b, #{WEIGHT_BIAS}" for b in g.bs]
    c = g.ones          # holds the bias bytes inside the group: its value is known (lower/splat.py)
    head = [f"add z{b}.b, z{b}.b, #{WEIGHT_BIAS}" for b in g.bs]
    probe = g.bs[0]
    if len(g.bs) > 1:
        head.append(f"orr z{g.t}.d, z{g.bs[0]}.d, z{g.bs[1]}.d")
        head += [f"orr z{g.t}.d, z{g.t}.d, z{b}.d" for b in g.bs[2:]]
        probe = g.t
    head += [f"cmplt p{p_temp}.b, p{p_all}/z, z{probe}.b, #0", f"b.ne {slow}"]
    if not chain_in:
        head.append(f"dup z{c}.b, #{WEIGHT_BIAS}")
    fused = {tr.index: tr for tr in g.triples}
    sa_of: Optional[int] = None
    new: dict[int, list[str]] = {}
    i = g.first
    while i <= g.last:
        tr = fused.get(i)
        if tr is None:
            new[i] = list(bodies[i])
            if sa_of is not None and sa_of in touched(seq[i])[1]:
                sa_of = None
            i += 1
            continue
        out = head
        head = []
        if sa_of != tr.a:
            out += [f"dup z{g.t}.s, #0", f"udot z{g.t}.s, z{tr.a}.b, z{c}.b"]
            sa_of = tr.a
        out += [f"udot z{tr.acc}.s, z{tr.a}.b, z{tr.b}.b", f"sub z{tr.acc}.s, z{tr.acc}.s, z{g.t}.s"]
        if sa_of == tr.acc:
            sa_of = None
        a1, a2, a3 = (seq[k].address for k in (i, i + 1, i + 2))
        new[i] = pre.get(a1, []) + out + post.get(a1, [])
        new[i + 1] = pre.get(a2, []) + post.get(a2, [])
        new[i + 2] = pre.get(a3, []) + post.get(a3, [])
        i += 3
    tail = [l for b, l in zip(g.bs, restore) if b in after]
    if c in after and not chain_out:
        tail.append(_ones(g, p_width))
    new[g.last] = new[g.last] + tail + [f"{ret}:"]
    lines = ([f"{slow}:"] + ([_ones(g, p_width)] if chain_in else []) + restore
             + [l for i in span for l in bodies[i]]
             + ([f"dup z{c}.b, #{WEIGHT_BIAS}"] if chain_out else []) + [f"b {ret}"])
    # dead after the group: the fast path leaves T, the Bs, the per-instruction temporaries...
    # holding other values than the per-instruction lowering does (the ones inside a chain are
    # rebuilt by its last group, within the same stretch: translation validation compares them)
    dead = {f"z{z}" for z in range(32) if z not in after} | {f"p{p}" for p in p_temps} | {"nzcv"}
    return new, lines, Fused(frozenset(dead), c, g.bits)


_SLOW = re.compile(r"\.Lx2sve_dot\d+:")
_BACK = re.compile(r"b \.Lx2sve_dot\d+r")


def slow_paths_trapping(asm: str) -> str:
    """``asm`` (a translation's assembly) with every fused group's slow path replaced by
    ``brk #0x77``: a run that still gives the right result took the fast paths only (tests)."""
    out, inside = [], False
    for line in asm.splitlines():
        if _SLOW.fullmatch(line):
            inside = True
        elif inside:
            inside = not _BACK.fullmatch(line)
            line = "brk #0x77"
        out.append(line)
    return "\n".join(out) + "\n"
