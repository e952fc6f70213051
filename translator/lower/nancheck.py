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
``fcmuo p1.s, p0/z, z1.s, z4.s``. ``pair_checks`` merges the checks of up to four neighbouring
instructions in a straight-line stretch: the earlier ones lose their three lines, the last
checks every result (three or four: two ``fcmuo`` ORed by ``orrs``, which sets the flags), and
one out-of-line path runs all the fix-ups, each after recomputing its own NaN lanes (a fix-up is
governed by them, so on a result without NaN lanes it changes nothing). Three instructions fewer
per pair, five per group of three, seven per four.

Conditions: both fix-ups are straight-line detours (lower/peephole.py); the second instruction
does not name the first result; nothing the second one's body writes is read by the first
fix-up before it writes it (the first one's copy of its accumulator survives: a temporary of the
second that collides with it is renamed to a register the unit never uses); the second fix-up
reads nothing the first one writes.

Proof: verify/peephole_check.py runs every segment with and without the passes on NaN-rich
states (tests/test_nancheck.py; both corpora in exact mode: 0 mismatches, and a fix-up that skips
its recompute is caught); the per-instruction fix-ups are proved by ``x2sve verify``; the e2e
kernels with merged checks (1x1 conv, brgemm, eltwise, pooling, norms) run bit-exact against
native x86.
"""
from __future__ import annotations

import re
from typing import Optional

from .peephole import Detour, detours_of, effects, named
from .regmap import SCRATCH_ZNAN, X_CTX

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


def _flow(lines: list[str], p_all: int) -> tuple[set, set]:
    """(registers read before being written, registers written) over straight-line lines."""
    need: set = set()
    wrote: set = set()
    for l in lines:
        e = effects(l, p_all)
        need |= e.reads - wrote
        wrote |= e.writes
    return need, wrote


def _rename(lines: list[str], old: str, new: str) -> Optional[list[str]]:
    """``old`` (zN) to ``new`` in every line, or None when a line names it in another view."""
    n = old[1:]
    if any(re.search(rf"(?<![\w.#])[vqdshb]{n}(?!\w)", l) for l in lines):
        return None
    pat = re.compile(rf"(?<![\w.#])z{n}(?!\w)")
    return [pat.sub(new, l) for l in lines]


GROUP = 4          # checks merged at most into one


def pair_checks(bodies: list[list[str]], starts: list[bool], outlined: list[str], p_all: int,
                free_z, free_p=(), live=None) -> dict[str, frozenset]:
    """Merge the NaN checks of up to GROUP neighbouring independent FP instructions, in place.
    ``free_z``: the z registers free over instructions k .. k+n-1 (a list, or a function of
    (k, n)): no x86 value lives in them there and none of them names them. ``free_p``: predicate
    temporaries (a group of three or four ORs two check predicates). ``live(k, n)``: for each of
    instructions k .. k+n-1 the z registers ("zN") holding x86 values after it (default: all;
    a fix-up that now runs later must not overwrite one of them). Returns {merged slow path's
    label: registers the merged code may leave different from the separate checks
    (temporaries, the check predicates, NZCV)} for translation validation."""
    spare_at = free_z if callable(free_z) else (lambda k, n: free_z)
    live_at = live or (lambda k, n: [frozenset(f"z{z}" for z in range(32))] * n)
    detours = detours_of(outlined, p_all)
    merged: dict[str, list[str]] = {}
    dropped: set[str] = set()
    out: dict[str, frozenset] = {}
    parsed = [_Check(b) for b in bodies]    # bodies before k are final; those from k on unchanged
    k = 0
    while k + 1 < len(bodies):
        got = None
        for n in range(min(GROUP, len(bodies) - k), 1, -1):
            if any(starts[k + 1:k + n]):
                continue
            checks = parsed[k:k + n]
            if not all(c.ok and c.slow in detours and detours[c.slow].ret == c.ret and c.slow not in merged
                       for c in checks):
                continue
            if len({(c.T, c.pg, c.pa) for c in checks}) != 1 or len({c.r for c in checks}) != n:
                continue
            got = _group(bodies[k:k + n], checks, [detours[c.slow] for c in checks], p_all,
                         list(spare_at(k, n)), list(free_p), list(live_at(k, n)))
            if got is not None:
                break
        if got is None:
            k += 1
            continue
        new_bodies, slow, dead = got
        bodies[k:k + n] = new_bodies
        merged[checks[0].slow] = slow
        dropped.update(c.slow for c in checks[1:])
        out[checks[0].slow] = dead
        k += n
    if merged:
        outlined[:] = _rebuild(outlined, merged, dropped)
    return out


_COPY = re.compile(r"mov (z\d+)\.d, (z\d+)\.d$")
_LOAD = re.compile(r"ld1r?[bhwd] \{(z\d+)\.[bhsd]\}, p\d+/z, \[")
STASH_SLOTS = 3            # scratch slots for accumulator copies: SCRATCH_ZNAN (lower/regmap.py)


def _restore(reg: str, core: list[str], clobbered: set, mem_clobbered: bool, slot: int, p_all: int):
    """(the core, lines that bring ``reg`` back for its fix-up, whether a stash slot was used), or
    None. ``reg`` must be written once in the core: as the accumulator copy (``mov reg.d, zX.d``,
    read by nothing after it: it becomes a store to a scratch slot, reloaded by the fix-up) or by
    a vector load (repeated, with the lines computing its address temporaries, when neither
    memory nor their inputs changed since)."""
    writes = [k for k, l in enumerate(core) if reg in effects(l, p_all).writes]
    if len(writes) != 1:
        return None
    k = writes[0]
    line = core[k]
    m = _COPY.match(line)
    if m and m.group(1) == reg:
        if any(reg in effects(l, p_all).reads for l in core[k + 1:]):
            return None
        stash = f"[x{X_CTX}, #{slot}, mul vl]"
        return core[:k] + [f"str {m.group(2)}, {stash}"] + core[k + 1:], [f"ldr {reg}, {stash}"], True
    m = _LOAD.match(line)
    if m is None or m.group(1) != reg or mem_clobbered:
        return None
    reads = effects(line, p_all).reads
    prefix: list[str] = []
    for r in sorted(reads):
        if r not in clobbered:
            continue
        defs = [l for l in core[:k] if r in effects(l, p_all).writes]
        if not r.startswith("x") or not defs:
            return None                     # the address (or predicate) is gone
        prefix += [d for d in defs if d not in prefix]
    for d in prefix:
        if any(x in clobbered and not any(x in effects(p, p_all).writes for p in prefix[:prefix.index(d)])
               for x in effects(d, p_all).reads):
            return None
    return core, prefix + [line], False


def _group(bodies, checks: list[_Check], detours: list[Detour], p_all: int, free_z: list[int],
           free_p: list[int], live: list[frozenset] | None = None):
    """(new bodies, the merged slow path, registers that may differ), or None. ``live[j]``: the
    registers holding x86 values after instruction j. The fix-ups run last first: each finds
    what the instructions after its own left, and brings back (``_restore``) what it needs and
    they overwrote."""
    n = len(bodies)
    live = live or [frozenset(f"z{z}" for z in range(32))] * n
    cores = [b[:-4] for b in bodies]
    fixes = [[f"fcmuo {c.pn}.{c.T}, {c.pg}/z, {c.r}.{c.T}, {c.r}.{c.T}"] + list(d.lines[1:-1])
             for c, d in zip(checks, detours)]
    used = set().union(*(named(x) for x in cores + fixes), *(named(b[-4:]) for b in bodies))
    for j in range(1, n):
        if any(effects(l, p_all).barrier for l in cores[j]):
            return None                     # the checks would move past something not modelled
        if any(c.r in named(cores[j]) for c in checks[:j]):
            return None                     # reads (or writes) an earlier result
        need = set().union(*(_flow(f, p_all)[0] for f in fixes[:j]))
        for reg in sorted(_flow(cores[j], p_all)[1] & need):      # a temporary of this one:
            first = next((effects(l, p_all) for l in cores[j] if reg in named([l])), None)
            spare = next((f"z{z}" for z in free_z if f"z{z}" not in used), None)   # move it
            if (reg.startswith("z") and int(reg[1:]) in free_z and spare is not None and first is not None
                    and reg not in first.reads and reg in first.writes):
                c2, f2 = _rename(cores[j], reg, spare), _rename(fixes[j], reg, spare)
                if c2 is not None and f2 is not None:
                    cores[j], fixes[j] = c2, f2
                    used.add(spare)
    full = [list(f) for f in fixes]     # the fix-ups with what they bring back, last first
    vlb = 64                            # [x28, #k, mul vl] at VL 512 (translate supports 512 only)
    slots = [SCRATCH_ZNAN // vlb + k for k in range(STASH_SLOTS)]
    for j in range(n - 2, -1, -1):
        later = [l for x in cores[j + 1:] + full[j + 1:] for l in x]
        clobbered = _flow(later, p_all)[1]
        mem = any(effects(l, p_all).mem_write and f"x{X_CTX}" not in named([l]) for l in later)
        bring: list[str] = []
        for reg in sorted(_flow(fixes[j], p_all)[0] & clobbered - {checks[j].pn}):
            if not slots:
                return None
            got = _restore(reg, cores[j], clobbered, mem, slots[0], p_all)
            if got is None:
                return None                 # it would read what a later instruction or fix-up wrote
            cores[j], lines, stashed = got
            bring += lines
            if stashed:
                slots.pop(0)
        full[j] = fixes[j][:1] + bring + fixes[j][1:]
    for i in range(n - 1):              # a fix-up now runs after the later instructions: it must
        temps = _flow(full[i], p_all)[1] - {checks[i].r}       # not undo what they leave in an
        for k in range(i + 1, n):                              # x86 register (a borrowed
            if temps & _flow(cores[k], p_all)[1] & live[k]:    # register's reload, say)
                return None
    c0, last = checks[0], checks[-1]
    rs = [c.r for c in checks]
    if n == 2:
        test = [f"fcmuo {last.pn}.{c0.T}, {c0.pg}/z, {rs[0]}.{c0.T}, {rs[1]}.{c0.T}", f"ptest {c0.pa}, {last.pn}.b"]
        preds = {last.pn}
    else:
        other = next((f"p{p}" for p in free_p if f"p{p}" not in used and f"p{p}" != last.pn), None)
        if other is None:
            return None
        r4 = rs[3] if n == 4 else rs[2]
        test = [f"fcmuo {last.pn}.{c0.T}, {c0.pg}/z, {rs[0]}.{c0.T}, {rs[1]}.{c0.T}",
                f"fcmuo {other}.{c0.T}, {c0.pg}/z, {rs[2]}.{c0.T}, {r4}.{c0.T}",
                f"orrs {last.pn}.b, {c0.pa}/z, {last.pn}.b, {other}.b"]
        preds = {last.pn, other}
    new = cores[:-1] + [cores[-1] + test + [f"b.ne {c0.slow}", f"{last.ret}:"]]
    slow = [l for f in reversed(full) for l in f] + [f"b {last.ret}"]
    # what may differ from the separate checks: the fix-ups' temporaries (they now run when any
    # result has a NaN), the copies, the check predicates, NZCV; never the results, nor a
    # register that holds an x86 value after the group
    _, wrote = _flow([l for x in full + cores for l in x], p_all)
    dead = frozenset((wrote | preds | {c.pn for c in checks} | {"nzcv"}) - set(rs) - live[-1])
    return new, slow, dead


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
