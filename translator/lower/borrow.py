"""Borrowed vector registers: one spill per run of instructions instead of one per instruction.

When every z register is live (an unrolled GEMM keeps 24+ accumulators in zmm), an instruction
that needs a vector temporary (a broadcast operand, the NaN fix-up's copy of a source) spills
some register around itself: ``str zV`` before, ``ldr zV`` after - two extra instructions per
x86 instruction. This pass looks at the lowered unit, finds runs of consecutive spilling
instructions inside one basic block, and picks, Belady-style, the live register whose next use
is farthest away. That register is saved once before the run and reloaded once after it; inside
the run it is handed to the engine as a free temporary (``free_z``), so the per-instruction
spills disappear.

Correctness rests on three checks: no instruction of the run reads or writes the borrowed
register (x86 effects from iced, with ``vzero*`` touching all); a run never crosses a label or a
non-fall-through edge, and contains no control flow (so the reload always executes); each
borrowed register has its own scratch slot (``SCRATCH_ZBORROW``), apart from the engine's
per-instruction slots. The whole-kernel tests (tests/test_e2e.py: brgemm, conv) and
tests/test_borrow.py run such units against native x86.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .regmap import SCRATCH_ZBORROW, SCRATCH_ZSPILL, X_CTX

MAX_SLOTS = 4
_SPILL = re.compile(rf"str z\d+, \[x{X_CTX}, #(\d+), mul vl\]$")


@dataclass
class BorrowPlan:
    """What the lowering loop applies: extra dead registers per instruction, and the save and
    reload lines around the runs."""
    dead: dict[int, frozenset] = field(default_factory=dict)   # address -> borrowed z (free there)
    pre: dict[int, list[str]] = field(default_factory=dict)    # address -> lines before its body
    post: dict[int, list[str]] = field(default_factory=dict)   # address -> lines after its body
    slots: dict[int, set] = field(default_factory=dict)        # address -> borrow slots in use
    runs: int = 0

    def __bool__(self) -> bool:
        return self.runs > 0


def engine_spills(body: Iterable[str], vl: int) -> int:
    """How many per-instruction vector spills (``str zN, [x28, #k, mul vl]``) a body has."""
    vlb = vl // 8
    lo, hi = SCRATCH_ZSPILL // vlb, SCRATCH_ZBORROW // vlb
    n = 0
    for line in body:
        m = _SPILL.match(line)
        if m and lo <= int(m[1]) < hi:
            n += 1
    return n


def plan_borrows(order: list, bodies: dict[int, list[str]], vlive: dict[int, frozenset],
                 touched: Callable[[object], frozenset], labels: set[int], vl: int,
                 plan: BorrowPlan | None = None) -> BorrowPlan:
    """Extend ``plan`` (or start one) with runs for the instructions whose ``bodies`` still spill.

    ``order``: the unit's instructions in layout order; ``vlive``: vector registers live after
    each address; ``touched(insn)``: the z registers an instruction reads or writes (all 32 when
    unknown); ``labels``: addresses that something jumps to (a run may start there, never
    continue into one)."""
    plan = BorrowPlan() if plan is None else plan
    n = len(order)
    spills = [engine_spills(bodies.get(i.address, ()), vl) for i in order]
    if not any(spills):
        return plan
    plain = [i.flow == "next" for i in order]
    tset = [touched(i) for i in order]

    def continues(k: int) -> bool:       # may a run that holds instruction k-1 go on into k?
        a, b = order[k - 1], order[k]
        return plain[k] and b.address not in labels and a.next_address == b.address

    i = 0
    while i < n:
        if not spills[i] or not plain[i]:
            i += 1
            continue
        a0 = order[i].address
        best = None
        for z in range(32):
            if z in tset[i] or z in plan.dead.get(a0, ()) or z not in vlive.get(a0, ()):
                continue
            end, gain = i, 1
            k = i + 1
            while k < n and continues(k) and z not in tset[k] \
                    and z not in plan.dead.get(order[k].address, ()):
                if spills[k]:
                    end, gain = k, gain + 1
                k += 1
            if best is None or gain > best[0]:
                best = (gain, z, end)
        if best is None or best[0] < 2:      # save + reload cost what one spill costs
            i += 1
            continue
        gain, z, end = best
        used = set()
        for k in range(i, end + 1):
            used |= plan.slots.get(order[k].address, set())
        free = [s for s in range(MAX_SLOTS) if s not in used]
        if not free:
            i += 1
            continue
        slot = free[0] + SCRATCH_ZBORROW // (vl // 8)
        plan.pre.setdefault(a0, []).append(f"str z{z}, [x{X_CTX}, #{slot}, mul vl]")
        plan.post.setdefault(order[end].address, []).insert(0, f"ldr z{z}, [x{X_CTX}, #{slot}, mul vl]")
        for k in range(i, end + 1):
            a = order[k].address
            plan.dead[a] = plan.dead.get(a, frozenset()) | {z}
            plan.slots.setdefault(a, set()).add(free[0])
        plan.runs += 1
        i = end + 1
    return plan
