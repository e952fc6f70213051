"""Translation validation of the peephole passes (lower/peephole.py).

A kernel is translated twice, with the passes and without. Both line sequences are cut at every
line the passes treat as a barrier (labels, branches, unmodelled instructions) and at every
stretch start, which gives pairs of straight-line segments: the passes never move, add or
remove a barrier, so segment i of one sequence corresponds to segment i of the other. A branch
to an out-of-line NaN slow path that the passes see through (a detour) does not cut: the
segment runs with that slow path appended, so both ways through it are exercised. Each pair
that differs runs in unicorn from the same random states, and every register but the
translator's temporaries (dead at x86 instruction boundaries), NZCV and the memory window must
come out bit-identical.

Base registers are placed so that the segment's memory operands land inside a 4 MiB arena
mapped beside the state's window (random bytes, compared after the run too); a segment whose
original faults anyway (an address computed at run time) is counted as skipped. ``adr`` of a
label outside the segment becomes a ``movz`` of the arena address on both sides.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..encode import EncodeError, assemble
from ..lower.peephole import Flow, detours_of
from ..lower.regmap import X_CTX, X_TEMPS
from .arm_exec import SCRATCH_BASE, ArmExecError, ArmRunner
from .state import MEM_BASE, MEM_SIZE, ArmState

IGNORED_X = frozenset(X_TEMPS) | {25, 26}      # temporaries and the address pool
ARENA = 0x10000000
ARENA_SIZE = 1 << 22
_INDEX = re.compile(r"(?:\[|add x\d+, )x\d+, x(\d+)")
_ADR = re.compile(r"^adr (x\d+), \S+$")
_OFFSET = re.compile(r"\[x(\d+)(?:, #(-?\d+)(, mul vl)?)?\]|(?:add|sub) x\d+, x(\d+), #(\d+)(, lsl #12)?")


@dataclass
class Report:
    segments: int = 0           # segment pairs that differ
    ran: int = 0                # of those, run (not skipped)
    states: int = 0
    skipped: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)


class Facts(NamedTuple):
    """What a segment's check needs to know beyond its lines: the constant predicates the unit's
    set-up establishes, and what the passes' groups whose slow paths it enters tell
    (lower/fuse.py, lower/nancheck.py)."""
    preds: dict                         # p index -> bytes (constant_predicates)
    ignore: frozenset = frozenset()     # registers the groups leave dead: not compared
    ones: frozenset = frozenset()       # (z, bits): int8 groups assume the word splat 1 there


def _segments(t, p_all: int = 0) -> list[tuple[list[str], list[str], Facts]]:
    """Straight-line segments of a translation, each with the out-of-line slow paths
    (detours) it may enter and what the groups whose slow paths those are tell the check:
    (lines, slow-path lines, Facts)."""
    from ..translate import _label, stretch_starts
    rows = [(i, ls) for i, ls in t.lines if i is not None]
    labels = {i.address for i, ls in rows if f"{_label(i.address)}:" in ls}     # x86 branch targets
    starts = stretch_starts([i for i, _ in rows], labels)
    flow = Flow(detours_of(t.outlined, p_all), p_all)
    preds = constant_predicates(t.setup, t.vl)
    segs: list[list] = [[[], [], Facts(preds)]]

    def split() -> None:
        flow.reset()
        if segs[-1][0]:
            segs.append([[], [], Facts(preds)])
    for (insn, lines), st in zip(rows, starts):
        if st:
            split()
        for l in lines:
            if flow.effects(l).barrier:
                split()
                continue
            segs[-1][0].append(l)
            if flow.entered is not None:
                segs[-1][1] += flow.entered.lines
                fu = t.fused.get(flow.entered.lines[0][:-1])
                if fu is not None:
                    f = segs[-1][2]
                    segs[-1][2] = Facts(preds, f.ignore | fu.dead,
                                        f.ones | ({(fu.ones, fu.bits)} if fu.ones is not None else set()))
    return [(a, b, c) for a, b, c in segs if a]


def _with_slow_paths(lines: list[str], slow: list[str]) -> list[str]:
    """A segment followed by the slow paths it may enter, jumped over."""
    return lines + ["b .Lx2sve_check_end"] + slow + [".Lx2sve_check_end:"] if slow else lines


def segment_pairs(code: bytes, **kw) -> list[tuple[list[str], list[str], Facts]]:
    """(without passes, with passes, Facts) for every straight-line segment the passes changed,
    each followed by the slow paths it may enter (jumped over)."""
    from ..translate import translate
    a = _segments(translate(code, peephole=False, allow_unsupported=True, **kw))
    b = _segments(translate(code, peephole=True, allow_unsupported=True, **kw))
    if len(a) != len(b):
        raise AssertionError(f"the passes changed the segment structure ({len(a)} vs {len(b)})")
    return [(_with_slow_paths(x, xs), _with_slow_paths(y, ys), yf)
            for (x, xs, _), (y, ys, yf) in zip(a, b) if x != y]


def _placement(lines: list[str], rng: random.Random, vl: int) -> dict[int, int]:
    """x register -> value: bases point into the arena so that the offsets used with them
    stay inside it; index registers get small multiples of 64."""
    offs: dict[int, list[int]] = {}
    index: set[int] = set()
    for l in lines:
        for m in _INDEX.finditer(l):
            index.add(int(m.group(1)))
        for m in _OFFSET.finditer(l):
            if m.group(1) is not None:
                r, o = int(m.group(1)), int(m.group(2) or 0) * (vl // 8 if m.group(3) else 1)
            else:
                r, o = int(m.group(4)), int(m.group(5)) << (12 if m.group(6) else 0)
                if l.startswith("sub"):
                    o = -o
            offs.setdefault(r, []).append(o)
    place = {r: 64 * rng.randrange(8) for r in index}
    for r, os_ in offs.items():
        if r not in index:
            place[r] = ARENA + ARENA_SIZE // 4 - min(os_) + 8 * rng.randrange(8)   # pointers stay aligned
    return place


# every byte into [-64, 63]: the weights for which a fused int8 dot group takes its fast path
SMALL_I8 = bytes(((b & 0x7F) - 64) & 0xFF for b in range(256))


def _state(rng: random.Random, vl: int, place: dict[int, int], p_all: int,
           small: bool = False, preds: dict[int, bytes] | None = None) -> ArmState:
    vb = vl // 8
    s = ArmState(vl)
    s.z = [_fp_rich(rng, vb) if rng.random() < 0.5 else rng.randbytes(vb) for _ in range(32)]
    if small:
        s.z = [z.translate(SMALL_I8) for z in s.z]
    s.p = [rng.randbytes(vb // 8) for _ in range(16)]
    s.p[p_all] = b"\xff" * (vb // 8)
    for p, v in (preds or {}).items():
        s.p[p] = v
    s.x = [ARENA + ARENA_SIZE // 4 + 8 * rng.randrange(MEM_SIZE // 16) for _ in range(31)]
    for r, v in place.items():
        s.x[r] = v
    s.x[X_CTX] = SCRATCH_BASE
    s.nzcv = rng.randrange(16) << 28
    s.mem = rng.randbytes(MEM_SIZE)
    return s


_SPECIAL = (0x7F800000, 0xFF800000, 0x00000000, 0x80000000, 0x7FC00000, 0xFFC00000)


_PTRUE = re.compile(r"ptrue p(\d+)\.([bhsd])(?:, vl(\d+))?$")
_PNOT = re.compile(r"not p(\d+)\.b, p(\d+)/z, p(\d+)\.b$")
_PBIC = re.compile(r"bic p(\d+)\.b, p(\d+)/z, p(\d+)\.b, p(\d+)\.b$")


def constant_predicates(setup: list[str], vl: int) -> dict[int, bytes]:
    """The predicates a unit's set-up lines establish (all-true, width, upper-part, one-element
    lanes), as bytes: the translation relies on them (a fused group rebuilds the ymm ones
    under the width predicate, vpinsr* selects with a lane), so the states hold them too."""
    nb = vl // 64
    val: dict[int, int] = {}
    for line in setup:
        if m := _PTRUE.match(line):
            size = {"b": 1, "h": 2, "s": 4, "d": 8}[m.group(2)]
            n = int(m.group(3)) if m.group(3) else vl // 8 // size
            val[int(m.group(1))] = sum(1 << (i * size) for i in range(n))
        elif (m := _PNOT.match(line)) and int(m.group(2)) in val and int(m.group(3)) in val:
            val[int(m.group(1))] = val[int(m.group(2))] & ~val[int(m.group(3))]
        elif (m := _PBIC.match(line)) and all(int(m.group(i)) in val for i in (2, 3, 4)):
            g, x, y = (val[int(m.group(i))] for i in (2, 3, 4))
            val[int(m.group(1))] = g & x & ~y
    return {p: (v & ((1 << (8 * nb)) - 1)).to_bytes(nb, "little") for p, v in val.items()}


def _fp_rich(rng: random.Random, nbytes: int) -> bytes:
    """f32 lanes where about one in six is a NaN (random payload, quiet or signalling), an
    infinity or a zero, so that the NaN slow paths (detours) run too."""
    out = bytearray(rng.randbytes(nbytes))
    for i in range(0, nbytes, 4):
        r = rng.random()
        if r < 0.1:
            v = rng.choice((0x7F800000, 0xFF800000)) | rng.randrange(1, 1 << 23)    # NaN
        elif r < 0.17:
            v = rng.choice(_SPECIAL)
        else:
            continue
        out[i:i + 4] = v.to_bytes(4, "little")
    return bytes(out)


def _same(a: ArmState, b: ArmState) -> list[str]:
    diff = [f"z{i}" for i in range(32) if a.z[i] != b.z[i]]
    diff += [f"p{i}" for i in range(16) if a.p[i] != b.p[i]]
    diff += [f"x{i}" for i in range(31) if i not in IGNORED_X and a.x[i] != b.x[i]]
    if a.nzcv != b.nzcv:
        diff.append("nzcv")
    if a.mem != b.mem:
        diff.append("mem")
    return diff


def check(code: bytes, *, states: int = 8, seed: int = 1, vl: int = 512, p_all: int = 0,
          runner: ArmRunner | None = None, **kw) -> Report:
    """Run every changed segment of ``code``'s translation with and without the passes."""
    runner = runner or ArmRunner(vl)
    uc = runner._machine(vl).uc
    if not getattr(runner, "_x2sve_arena", False):
        uc.mem_map(ARENA, ARENA_SIZE)
        runner._x2sve_arena = True
    rng = random.Random(seed)
    rep = Report()

    def run(code: bytes, st: ArmState, arena: bytes):
        runner.reset_scratch()
        uc.mem_write(ARENA, arena)
        out = runner.run(code, st.copy())
        return out, bytes(uc.mem_read(ARENA, ARENA_SIZE))

    for before, after, facts in segment_pairs(code, vl=vl, **kw):
        rep.segments += 1
        fix = lambda ls: [_ADR.sub(rf"movz \1, #{ARENA >> 16:#x}, lsl #16", l) for l in ls]
        try:
            c0, c1 = assemble(fix(before)), assemble(fix(after))
        except EncodeError as ex:             # e.g. adr of a label outside the segment
            rep.skipped.append((before[0], f"not assembled alone: {ex}"))
            continue
        place = _placement(before, rng, vl)
        ran = False
        why = None
        for k in range(states):
            small = bool(facts.ones) and k % 4 >= 2       # int8 groups' fast path half the time
            st = _state(rng, vl, place, p_all, small, facts.preds)
            for z, bits in facts.ones:                     # what an int8 group assumes (lower/fuse.py)
                st.z[z] = (b"\x01\x00" * (bits // 16)).ljust(vl // 8, b"\0")
            arena = rng.randbytes(ARENA_SIZE) if k % 2 == 0 else _pointers(rng)
            if small and k % 2 == 0:
                arena = arena.translate(SMALL_I8)
            try:
                o0, a0 = run(c0, st, arena)
            except ArmExecError as ex:
                why = str(ex)
                continue
            try:
                o1, a1 = run(c1, st, arena)
            except ArmExecError as ex:
                rep.mismatches.append({"before": before, "after": after, "error": str(ex)})
                break
            rep.states += 1
            ran = True
            d = [r for r in _same(o0, o1) if r not in facts.ignore] + (["arena"] if a0 != a1 else [])
            if d:
                rep.mismatches.append({"before": before, "after": after, "differs": d})
                break
        rep.ran += ran
        if not ran:
            rep.skipped.append((before[0], why))
    return rep


def _pointers(rng: random.Random) -> bytes:
    """An arena whose every qword points into the arena (for pointers loaded from memory)."""
    import array
    a = array.array("Q", (ARENA + ARENA_SIZE // 4 + 64 * rng.randrange(256) for _ in range(4096)))
    return a.tobytes() * (ARENA_SIZE // (8 * 4096))
