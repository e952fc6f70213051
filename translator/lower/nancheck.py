"""One NaN check for two FP results (exact NaN mode), across x86 instruction boundaries.

In exact NaN mode every FP instruction ends with a check of its result and an out-of-line fix-up
(engine ``_nan_fixup``, flags dead):

    mov     z30.d, z1.d                 ; the accumulator, for the fix-up (destructive forms)
    fmla    z1.s, p0/m, z2.s, z3.s
    fcmuo   p1.s, p0/z, z1.s, z1.s      ; NaN lanes of the result
    ptest   p0, p1.b                    ; (SVE FP compares set no flags)
    b.ne    .Lx2                        ; -> fix-up: x86's NaN in those lanes, back to .Lx1
  .Lx1:

``fcmuo`` is true where *either* operand is a NaN, so two independent results need one check:
``fcmuo p1.s, p0/z, z1.s, z4.s``. ``pair_checks`` merges the checks of neighbouring
instructions in a straight-line stretch: the first loses its three lines, the second checks both
results, and one out-of-line path runs both fix-ups, each after recomputing its own NaN lanes
(a fix-up is governed by them, so on a result without NaN lanes it changes nothing). Three
instructions fewer per pair.

Conditions: both fix-ups are straight-line detours (lower/peephole.py); the second instruction
does not name the first result; nothing the second one's body writes is read by the first
fix-up before it writes it (the first one's copy of its accumulator survives: a temporary of the
second that collides with it is renamed to a register the unit never uses); the second fix-up
reads nothing the first one writes.

Proof: verify/peephole_check.py runs every segment with and without the passes on NaN-rich
states (tests/test_nancheck.py, both corpora in exact mode); the per-instruction fix-ups are
proved by ``x2sve verify``.
"""
from __future__ import annotations

import re
from typing import Optional

from .peephole import Detour, detours_of, effects, registers

_CHECK = re.compile(r"fcmuo (p\d+)\.([hsd]), (p\d+)/z, (z\d+)\.\2, \4\.\2$")
_PTEST = re.compile(r"ptest (p\d+), (p\d+)\.b$")
_BNE = re.compile(r"b\.ne (\.L\w+)$")
_RET = re.compile(r"(\.L\w+):$")


class _Check:
    """The four-line tail of a checked FP body."""

    def __init__(self, body: list[str]):
        self.ok = False
        if len(body) < 5:
            return
        m1, m2, m3, m4 = (_CHECK.match(body[-4]), _PTEST.match(body[-3]), _BNE.match(body[-2]),
                          _RET.match(body[-1]))
        if not (m1 and m2 and m3 and m4) or m2.group(2) != m1.group(1):
            return
        self.pn, self.T, self.pg, self.r = m1.group(1), m1.group(2), m1.group(3), m1.group(4)
        self.pa, self.slow, self.ret = m2.group(1), m3.group(1), m4.group(1)
        self.ok = True


_ACCUMULATE = frozenset("fmla fmls fnmla fnmls fmad fmsb fnmad fnmsb mla mls mad msb sdot udot".split())


def _flow(lines: list[str], p_all: int) -> tuple[set, set]:
    """(registers read before being written, registers written) over straight-line lines
    (an accumulating instruction reads its destination too)."""
    need: set = set()
    wrote: set = set()
    for l in lines:
        e = effects(l, p_all)
        reads = set(e.reads) | ({e.dst} if e.dst and l.split(" ", 1)[0] in _ACCUMULATE else set())
        need |= reads - wrote
        wrote |= set(e.writes)
    return need, wrote


def _names(lines: list[str]) -> set:
    return {r for l in lines for r in registers(l.partition(" ")[2])}


def _rename(lines: list[str], old: str, new: str) -> Optional[list[str]]:
    """``old`` (zN) to ``new`` in every line, or None when a line names it in another view."""
    n = old[1:]
    if any(re.search(rf"(?<![\w.#])[vqdshb]{n}(?!\w)", l) for l in lines):
        return None
    pat = re.compile(rf"(?<![\w.#])z{n}(?!\w)")
    return [pat.sub(new, l) for l in lines]


def pair_checks(bodies: list[list[str]], starts: list[bool], outlined: list[str], p_all: int,
                free_z) -> dict[str, frozenset]:
    """Merge the NaN checks of neighbouring independent FP instructions, in place. ``free_z``:
    the z registers free over instructions k and k+1 (a list, or a function of k): no x86 value
    lives in them there and neither instruction names them. Returns {merged slow path's label:
    registers the merged code may leave different from the separate checks (temporaries, the
    check predicates, NZCV)} for translation validation."""
    spare_at = free_z if callable(free_z) else (lambda k: free_z)
    detours = detours_of(outlined, p_all)
    merged: dict[str, list[str]] = {}
    dropped: set[str] = set()
    out: dict[str, frozenset] = {}
    k = 0
    while k + 1 < len(bodies):
        c1, c2 = _Check(bodies[k]), _Check(bodies[k + 1])
        pair = None
        if (c1.ok and c2.ok and not starts[k + 1] and (c1.T, c1.pg, c1.pa) == (c2.T, c2.pg, c2.pa)
                and c1.r != c2.r and c1.slow in detours and c2.slow in detours
                and detours[c1.slow].ret == c1.ret and detours[c2.slow].ret == c2.ret
                and c1.slow not in merged and c2.slow not in merged):
            pair = _pair(bodies[k], bodies[k + 1], c1, c2, detours[c1.slow], detours[c2.slow], p_all,
                         list(spare_at(k)))
        if pair is None:
            k += 1
            continue
        b1, b2, slow, dead = pair
        bodies[k], bodies[k + 1] = b1, b2
        merged[c1.slow] = slow
        dropped.add(c2.slow)
        out[c1.slow] = dead
        k += 2
    if merged:
        outlined[:] = _rebuild(outlined, merged, dropped)
    return out


def _pair(body1, body2, c1: _Check, c2: _Check, d1: Detour, d2: Detour, p_all: int, free_z: list[int]):
    core1, core2 = body1[:-4], body2[:-4]
    fix1 = [f"fcmuo {c1.pn}.{c1.T}, {c1.pg}/z, {c1.r}.{c1.T}, {c1.r}.{c1.T}"] + list(d1.lines[1:-1])
    fix2 = [f"fcmuo {c2.pn}.{c2.T}, {c2.pg}/z, {c2.r}.{c2.T}, {c2.r}.{c2.T}"] + list(d2.lines[1:-1])
    if c1.r in _names(core2) or any(effects(l, p_all).barrier for l in core2):
        return None                         # the second reads the first result, or is not modelled
    need1, wrote1 = _flow(fix1, p_all)
    need2, _ = _flow(fix2, p_all)
    _, wrote_core2 = _flow(core2, p_all)
    clash = wrote_core2 & need1
    used = _names(core1) | _names(core2) | _names(fix1) | _names(fix2) | _names(body1[-4:]) | _names(body2[-4:])
    for reg in sorted(clash):
        first = next((effects(l, p_all) for l in core2 if reg in _names([l])), None)
        spare = next((f"z{z}" for z in free_z if f"z{z}" not in used), None)
        if (not reg.startswith("z") or int(reg[1:]) not in free_z or spare is None or first is None
                or reg in first.reads or reg not in first.writes):     # (free there, written first)
            return None                     # not a temporary of the second, or no register to move it to
        core2, fix2 = _rename(core2, reg, spare), _rename(fix2, reg, spare)
        if core2 is None or fix2 is None:
            return None
        used.add(spare)
        need2, _ = _flow(fix2, p_all)
    if need2 & (wrote1 - {c1.r}) - {c2.pn}:
        return None                         # the second fix-up would read what the first one wrote
    b2 = core2 + [f"fcmuo {c2.pn}.{c2.T}, {c2.pg}/z, {c1.r}.{c1.T}, {c2.r}.{c2.T}",
                  f"ptest {c1.pa}, {c2.pn}.b", f"b.ne {c1.slow}", f"{c2.ret}:"]
    slow = fix1 + fix2 + [f"b {c2.ret}"]
    # what may differ from the separate checks: the fix-ups' temporaries (they now run when
    # either result has a NaN), the copies, the check predicates, NZCV; never the two results
    _, wrote = _flow(fix1 + fix2 + core1 + core2, p_all)
    dead = frozenset((wrote | {c1.pn, c2.pn, "nzcv"}) - {c1.r, c2.r})
    return core1, b2, slow, dead


def _rebuild(outlined: list[str], merged: dict[str, list[str]], dropped: set[str]) -> list[str]:
    """The out-of-line area with each merged slow path in place of its first half's and the
    second halves removed."""
    out: list[str] = []
    skip = False
    for line in outlined:
        m = _RET.match(line.strip())
        if m:
            name = m.group(1)
            skip = name in dropped
            if name in merged:
                out += [line] + merged[name]
                skip = True
                continue
        if not skip:
            out.append(line)
    return out
