"""Lowering stage: x86 IR -> A64/SVE assembly lines, driven by the YAML mapping tables."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..ir import Insn
from .engine import Engine, UnitContext, Unsupported
from .regmap import RegMap
from .tables import Tables, TableError, default_tables, load_tables

__all__ = ["Engine", "UnitContext", "Unsupported", "RegMap", "Tables", "TableError",
           "default_tables", "load_tables", "Snippet", "lower_snippet", "layout_needs"]

ALL_FLAGS = frozenset({"CF", "PF", "AF", "ZF", "SF", "OF"})


@dataclass
class Snippet:
    """One instruction lowered on its own, as verify runs it."""
    insn: Insn
    setup: list[str]          # establishes the constants the body relies on (ptrue ...)
    body: list[str]           # the translation proper
    regmap: RegMap
    flags_in: dict
    flags_out: dict
    labels: dict = field(default_factory=dict)
    outlined: list = field(default_factory=list)
    zero_above: Optional[frozenset] = None    # lowered assuming these operands zero above the width
    splat: Optional[frozenset] = None         # lowered assuming these (z, "w:0x1") constants

    @property
    def lines(self) -> list[str]:
        """Runs alone: set-up, body, then any out-of-line slow paths (jumped over)."""
        if not self.outlined:
            return self.setup + self.body
        return self.setup + self.body + ["b .Lsnippet_end"] + self.outlined + [".Lsnippet_end:"]


def layout_needs(insns: list[Insn], tables: Tables) -> tuple[dict[int, str], dict[int, str]]:
    """For each k register: the layout most reads want, and the finest layout any access needs."""
    from ..ir import KReg
    votes: dict[int, dict[str, int]] = {}
    finest: dict[int, str] = {}
    order = "bhsd"
    for insn in insns:
        e = tables.entry_for(insn.mnemonic)
        T = e.T if e and e.T in ("b", "h", "s", "d") else None
        if T is None:
            continue
        ks = [insn.mask] if insn.mask else []
        ks += [op.index for op in insn.ops if isinstance(op, KReg)]
        for k in ks:
            votes.setdefault(k, {}).setdefault(T, 0)
            votes[k][T] += 1
            if k not in finest or order.index(T) < order.index(finest[k]):
                finest[k] = T
    pref = {k: max(v, key=v.get) for k, v in votes.items()}
    return pref, finest


def lane_needs(insns: list[Insn], tables: Tables) -> list[tuple[str, int]]:
    """(element size, element) pairs whose one-element predicate rules want (``{lane}``): the
    element an immediate selects, as vpinsr* does (imm mod the xmm's element count)."""
    from .regmap import lane_of
    out: set[tuple[str, int]] = set()
    for insn in insns:
        e = tables.entry_for(insn.mnemonic)
        if e is not None and e.uses_lane and (lane := lane_of(insn, e.T)) is not None:
            out.add(lane)
    return sorted(out)


def lower_snippet(insn: Insn, *, vl: int = 512, nan_mode: str = "exact",
                  tables: Optional[Tables] = None, flags_in: Optional[dict] = None,
                  flags_live_out: frozenset = ALL_FLAGS, label_of=None, outline: bool = False,
                  free_z: Optional[list] = None, zero_above: Optional[frozenset] = None,
                  splat: Optional[frozenset] = None, reuse: Optional[str] = None,
                  lanes: bool = True) -> Snippet:
    """Lower one instruction as a stand-alone unit (raises ``Unsupported``).

    ``free_z`` overrides the vector registers the lowering may use as temporaries (``[]`` forces
    the spill path, as in a kernel that keeps all 32 registers live); ``zero_above`` says which
    vector operands are zero above the destination's width (see lower/upper.py); ``splat``
    which hold a known constant, as (z, "w:0x1") pairs (see lower/splat.py); ``reuse`` the
    source operand the next instruction of the same kind reads again (``when: {reuses: ...}``);
    ``lanes=False``: no one-element predicates (``{lane}``), as in a unit that ran out of them."""
    tables = tables or default_tables()
    pref, finest = layout_needs([insn], tables)
    rm = RegMap.for_unit([insn], vl=vl, k_pref=pref, k_min=finest,
                         lanes=lane_needs([insn], tables) if lanes else ())
    eng = Engine(tables, rm, nan_mode=nan_mode)
    fin = dict(flags_in or {})
    ctx = UnitContext(flags_live_out=set(flags_live_out), label_of=label_of,
                      outlined=[] if outline else None, free_z=free_z, zero_above=zero_above,
                      splat=splat, reuse=reuse)
    body, fout = eng.lower(insn, ctx, fin)
    return Snippet(insn, rm.setup_lines(), body, rm, fin, fout, outlined=ctx.outlined or [],
                   zero_above=zero_above, splat=splat)
