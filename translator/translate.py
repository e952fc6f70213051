"""Whole-unit translation: x86 kernel bytes -> A64/SVE code (the `x2sve translate` job).

walk the control flow (decode/flow.py) -> flag liveness -> register map for the unit ->
lower every reached instruction (lower/engine.py) -> lay out code, labels and the kernel's
embedded data -> assemble (encode/).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import iced_x86

from .decode import DecodeError
from .decode.core import format_bytes, gc_paused
from .decode.flow import Program, infer_base, linear as linear_program, walk
from .ir import Gpr, Imm, Insn
from .lower import Engine, RegMap, UnitContext, Unsupported, default_tables, lane_needs, layout_needs
from .lower.borrow import BorrowPlan, plan_borrows
from .lower.fuse import Fused, find_groups as fuse_groups, fuse as fuse_lines
from .lower.nancheck import pair_checks as pair_nan_checks
from .lower.peephole import detours_of, effects as peephole_effects, named as peephole_named, optimize
from .lower.splat import splat_context, splat_in
from .lower.upper import zero_above_in, zero_context
from .lower.indirect import lower_indirect_jump
from .lower.regmap import SCRATCH_MXCSR, X_CTX
from .lower.system import check_constant_mxcsr

ALL_FLAGS = frozenset({"CF", "PF", "AF", "ZF", "SF", "OF"})
_RF = iced_x86.RflagsBits
_IC_FLAGS = {"OF": _RF.OF, "SF": _RF.SF, "ZF": _RF.ZF, "AF": _RF.AF, "CF": _RF.CF, "PF": _RF.PF}
_NO_FALLTHROUGH = {"return", "unconditional_branch", "indirect_branch", "interrupt", "exception"}
STACK_BYTES = 64 * 1024
SCRATCH_BYTES = 8 * 1024


class TranslateError(Exception):
    """Base of the errors `translate` raises; ``exit_code`` is the CLI's."""
    exit_code = 1


class BadInput(TranslateError):
    exit_code = 1


class UnsupportedError(TranslateError):
    """Instructions without a verified lowering were reached (and not allowed)."""
    exit_code = 3

    def __init__(self, items: list, base: int = 0):
        self.items = items
        self.base = base
        a, raw, text, reason = items[0]
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        super().__init__(f"unsupported instruction at {a:#x}: {format_bytes(raw)}: {text}: {reason}{more}")


@lru_cache(maxsize=65536)
def _flag_effects(raw: bytes) -> tuple[frozenset, frozenset]:
    """(flags read, flags written) by the x86 instruction, from iced's tables."""
    ins = iced_x86.Decoder(64, raw).decode()
    rd, wr = ins.rflags_read, ins.rflags_modified
    return (frozenset(n for n, b in _IC_FLAGS.items() if rd & b),
            frozenset(n for n, b in _IC_FLAGS.items() if wr & b))


def _successors(p: Program, insn: Insn) -> list[int]:
    out = []
    if insn.flow not in _NO_FALLTHROUGH and insn.next_address in p.insns:
        out.append(insn.next_address)
    if insn.target is not None and insn.target in p.insns and insn.flow != "call":
        out.append(insn.target)
    if insn.flow == "call" and insn.target in p.insns:
        out.append(insn.target)
    jt = p.indirect.get(insn.address) if insn.flow == "indirect_branch" else None
    if jt is not None:      # a resolved jump table (escape hatch indirect_jump_table)
        out += [a for a in dict.fromkeys(jt.targets) if a in p.insns]
    return out


def flag_liveness(p: Program, order: list[Insn]) -> dict[int, frozenset]:
    """x86 flags live after each instruction (read on some path before being written)."""
    live_in: dict[int, frozenset] = {i.address: frozenset() for i in order}
    live_out: dict[int, frozenset] = {}
    succ = {i.address: _successors(p, i) for i in order}
    changed = True
    while changed:
        changed = False
        for insn in reversed(order):
            out = frozenset().union(*(live_in[s] for s in succ[insn.address])) if succ[insn.address] else frozenset()
            rd, wr = _flag_effects(insn.raw)
            new_in = rd | (out - wr)
            live_out[insn.address] = out
            if new_in != live_in[insn.address]:
                live_in[insn.address] = new_in
                changed = True
    return live_out


_INFO = iced_x86.InstructionInfoFactory()
_R = iced_x86.Register
_OA = iced_x86.OpAccess


@lru_cache(maxsize=65536)
def _vec_uses(raw: bytes) -> tuple[tuple[int, bool, int], ...]:
    """(z index, reported as the ZMM register, iced access) of each vector register used."""
    ins = iced_x86.Decoder(64, raw).decode()
    out = []
    for u in _INFO.info(ins).used_registers():
        r = u.register
        for lo in (_R.XMM0, _R.YMM0, _R.ZMM0):
            if lo <= r < lo + 32:
                out.append((r - lo, lo == _R.ZMM0, u.access))
                break
    return tuple(out)


@lru_cache(maxsize=65536)
def _vec_effects(raw: bytes) -> tuple[frozenset, frozenset]:
    """(vector registers read, vector registers wholly overwritten), by z index.

    Only a full-width write (iced reports the ZMM register with plain WRITE: EVEX, or VEX which
    zeroes the upper bits) kills a register; merge-masked and legacy-SSE writes also read it."""
    rd, kill = set(), set()
    for z, full, acc in _vec_uses(raw):
        if acc == _OA.WRITE and full:
            kill.add(z)
        elif acc != _OA.NONE:
            rd.add(z)
    return frozenset(rd), frozenset(kill)


_READS = frozenset({_OA.READ, _OA.COND_READ, _OA.READ_WRITE, _OA.READ_COND_WRITE})
_WRITES = frozenset({_OA.WRITE, _OA.COND_WRITE, _OA.READ_WRITE, _OA.READ_COND_WRITE})


def _vec_rw(insn: Insn) -> tuple[frozenset, frozenset]:
    """(z registers read, z registers written in whole or in part); vzero* writes all."""
    if insn.mnemonic.startswith("vzero"):
        return _ALL_Z, _ALL_Z
    uses = _vec_uses(insn.raw)
    return (frozenset(z for z, _, a in uses if a in _READS), frozenset(z for z, _, a in uses if a in _WRITES))


def vector_liveness(p: Program, order: list[Insn]) -> dict[int, frozenset]:
    """Vector registers live after each instruction. At a return only xmm0/xmm1 (the System V
    return registers) are live; leaving the unit any other way keeps everything live."""
    used: set[int] = set()
    for insn in order:
        rd, kill = _vec_effects(insn.raw)
        used |= rd | kill
    everything = frozenset(used)     # registers the unit never touches are not ours to keep
    live_in: dict[int, frozenset] = {i.address: frozenset() for i in order}
    live_out: dict[int, frozenset] = {}
    succ = {i.address: _successors(p, i) for i in order}
    changed = True
    while changed:
        changed = False
        for insn in reversed(order):
            ss = succ[insn.address]
            if insn.flow == "return":
                out = frozenset({0, 1})
            elif not ss or (insn.target is not None and insn.target not in p.insns) \
                    or insn.flow in ("indirect_branch", "indirect_call"):
                out = everything
            else:
                out = frozenset().union(*(live_in[s] for s in ss))
                if insn.flow == "call":      # the callee's returns are inside the unit too
                    out = everything
            rd, kill = _vec_effects(insn.raw)
            if insn.mnemonic == "vzeroupper":    # keeps the low 128 bits of what is live after
                rd, kill = frozenset(), frozenset()
            new_in = rd | (out - kill)
            live_out[insn.address] = out
            if new_in != live_in[insn.address]:
                live_in[insn.address] = new_in
                changed = True
    return live_out


@dataclass
class Translation:
    """The result of translating one unit."""
    program: Program
    vl: int
    lines: list[tuple[Optional[Insn], list[str]]] = field(default_factory=list)
    data_lines: dict[int, list[str]] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    unsupported: list = field(default_factory=list)
    symbol: Optional[str] = None
    outlined: list[str] = field(default_factory=list)   # out-of-line slow paths (NaN fix-ups)
    # fused int8 groups (lower/fuse.py) and merged NaN checks (lower/nancheck.py): slow-path
    # label -> Fused, what translation validation needs (registers left dead, the ones assumed)
    fused: dict[str, "Fused"] = field(default_factory=dict)
    # x86 address -> (first, end) indices of its body in the assembly lines (benchmarks/dynamic.py)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    arm_code: bytes = b""
    _asm_lines: list[str] = field(default_factory=list)

    @property
    def stats(self) -> dict:
        n = len(self.program.insns)
        bad = {}
        for a, _, _, _ in self.unsupported:
            m = self.program.insns[a].mnemonic if a in self.program.insns else "?"
            bad[m] = bad.get(m, 0) + 1
        arm = sum(_count_insns(ls) for insn, ls in self.lines if insn is not None) + _count_insns(self.outlined)
        inline = arm - _count_insns(self.outlined)
        return {"x86_instructions": n, "translated": n - len(self.unsupported),
                "arm_instructions": arm, "arm_inline_instructions": inline, "unsupported": bad,
                "fused_groups": len(self.fused)}

    def asm(self) -> str:
        return "\n".join(self._asm_lines) + "\n"

    def listing(self) -> str:
        out = []
        for insn, ls in self.lines:
            if insn is None:
                out += [f"{'':>52}  {l}" for l in ls]
                continue
            left = f"{insn.address:#010x}  {insn.raw.hex(' '):<28} {insn.text}"
            body = [l for l in ls if not l.endswith(":")] or [""]
            out.append(f"{left:<60} | {body[0]}")
            out += [f"{'':<60} | {l}" for l in body[1:]]
        return "\n".join(out) + "\n"


def _count_insns(lines: list[str]) -> int:
    return sum(1 for l in lines if l and not l.endswith(":") and not l.startswith("."))


def _label(a: int) -> str:
    return f".L_{a:x}"


@gc_paused()     # a translation allocates ~100 objects per instruction, nearly all acyclic
def translate(code: bytes, *, vl: int = 512, base: Optional[int] = None, linear: bool = False,
              allow_unsupported: bool = False, symbol: Optional[str] = None,
              nan_mode: str = "exact", tables=None,
              raw_regions: Optional[dict[int, tuple[int, list[str]]]] = None,
              peephole: bool = True) -> Translation:
    """Translate one x86-64 code buffer. Raises BadInput or UnsupportedError.

    ``peephole=False`` leaves out the passes across instruction boundaries (lower/peephole.py):
    each x86 instruction's lowering then stands alone (what tests compare the passes against).
    ``raw_regions`` maps a start address to (end address, A64 lines): the x86 instructions in
    [start, end) are not lowered; the given SVE is emitted in their place (hand-written SVE
    regions of a JIT). A region clobbers every flag."""
    kernel_key = KERNEL_CACHE.key(locals())     # whole-kernel cache (end of this file)
    if kernel_key is not None:
        hit = KERNEL_CACHE.get(kernel_key)
        if hit is not None:
            return hit
    if vl != 512:
        raise BadInput(f"--vl {vl}: only 512-bit SVE (A64FX) is supported in this version")
    if not code:
        raise BadInput("empty input: no bytes to translate")
    tables = tables or default_tables()
    if base is None:
        base = 0 if linear else (infer_base(code) or 0)
    prog = linear_program(code, base) if linear else walk(code, base)
    if prog.errors:
        e = prog.errors[0]
        more = f" (and {len(prog.errors) - 1} more)" if len(prog.errors) > 1 else ""
        raise BadInput(f"{e}{more}")
    order = list(prog.insns.values())
    live, vlive = unit_liveness(prog, order)     # = flag_liveness, vector_liveness (end of file)
    pref, finest = layout_needs(order, tables)
    rm = RegMap.for_unit(order, vl=vl, k_pref=pref, k_min=finest, lanes=lane_needs(order, tables))
    eng = Engine(tables, rm, nan_mode=nan_mode)
    lowering = LOWER_CACHE.unit(eng)      # memoised eng.lower (see "Lowering cache" below)
    t = Translation(prog, vl, symbol=symbol)
    t.setup = rm.setup_lines()

    labels = set(prog.labels) | set(prog.data_refs) | set(prog.entries)
    regions = dict(raw_regions or {})
    for r0, (r1, _) in regions.items():
        labels |= {r0, r1}

    def region_of(a: int):
        for r0, (r1, rl) in regions.items():
            if r0 <= a < r1:
                return r0, rl
        return None
    end = prog.base + len(prog.code)

    def in_data(a: int) -> bool:
        return any(s0 <= a < e0 for s0, e0 in prog.data)

    def label_of(a: int) -> str:
        if prog.base <= a < end and (a in prog.insns or in_data(a)):
            labels.add(a)
            return _label(a)
        raise KeyError(a)

    counter = [0]
    outlined: list[str] = []
    states: dict[int, dict] = {}      # flag state assumed at each instruction
    unsupported = []
    plan = BorrowPlan()               # registers borrowed over runs (lower/borrow.py)
    zabove = _zero_above(prog, order, tables)   # vector operands known zero above the width
    splats = _splats(prog, order, tables)       # vector operands holding a known constant
    reuses = _reuses(prog, order, tables, labels)   # sources the next instruction reads again
    vlive_eff = vlive

    def lower_all() -> None:
        unsupported.clear()
        outlined.clear()
        t.lines = []
        cur: dict = {}
        prev_falls = False
        for insn in order:
            a = insn.address
            if a in labels or not prev_falls:
                cur = dict(states.get(a, {})) if a in states else (cur if prev_falls else {})
            # UnitContext(flags_live_out=live[a], label_of=_safe(label_of), free_z=dead after a, ...),
            # shared between instructions with the same liveness (see "Lowering cache" below)
            ctx = lowering.context(a, live, vlive_eff, label_of, counter, outlined, zabove.get(a),
                                   splats.get(a), reuses.get(a))
            reg = region_of(a) if regions else None
            try:
                check_constant_mxcsr(insn, prog)      # system.yaml: DAZ/FTZ constants unsupported
                rel = _relocate(insn, prog)
                if reg is not None:
                    body, cur = (list(reg[1]) if reg[0] == a else []), {}
                elif rel is not None:
                    body = rel
                elif insn.flow == "indirect_branch" and a in prog.indirect:
                    # escape hatch indirect_jump_table (lower/indirect.py): address-dependent,
                    # so never through the lowering cache; NZCV is preserved (cur unchanged)
                    body = lower_indirect_jump(insn, prog.indirect[a], rm, _safe(label_of), outlined)
                else:
                    body, cur = lowering.lower(insn, ctx, cur)
                    if plan and (a in plan.pre or a in plan.post):
                        body = plan.pre.get(a, []) + body + plan.post.get(a, [])
            except Unsupported as ex:
                unsupported.append((a, insn.raw, insn.text, ex.reason))
                body, cur = [f"brk #{min(len(unsupported), 0xffff):#x}"], {}
            t.lines.append((insn, body))
            prev_falls = insn.flow not in _NO_FALLTHROUGH
            # propagate to branch targets
            if insn.target is not None and insn.target in prog.insns:
                _meet_into(states, insn.target, cur)
            if insn.flow == "indirect_branch" and prog.indirect.get(a) is not None:
                for tgt in dict.fromkeys(prog.indirect[a].targets):
                    if tgt in prog.insns:
                        _meet_into(states, tgt, cur)
            if prev_falls and insn.next_address in labels:
                _meet_into(states, insn.next_address, cur)

    def converge() -> None:
        for _ in range(4):
            before = {k: dict(v) for k, v in states.items()}
            lower_all()
            if states == before:
                break
    converge()
    for _ in range(3):      # borrow registers where instructions spill (lower/borrow.py)
        runs = plan.runs
        plan_borrows(order, {i.address: b for i, b in t.lines if i is not None}, vlive,
                     _vec_touched, labels, vl, plan)
        if plan.runs == runs:
            break
        vlive_eff = {a: (v - plan.dead[a]) if a in plan.dead else v for a, v in vlive.items()}
        converge()
    t.unsupported = list(unsupported)
    if unsupported and not allow_unsupported:
        raise UnsupportedError(t.unsupported, prog.base)
    t.outlined = list(outlined)
    if peephole:
        _fuse(t, labels, set(regions), live, vlive, splats, rm, plan)
        if nan_mode == "exact":
            _pair_nan_checks(t, labels, set(regions), rm, vlive, plan)
        _peephole(t, labels, set(regions), vl, rm.p_all)
    _layout(t, prog, labels)
    from .encode import EncodeError, assemble
    try:
        t.arm_code = assemble(t._asm_lines)
    except EncodeError as ex:   # a lowering produced something the encoder rejects: never emit it
        raise TranslateError(f"internal error: encoder rejected generated code: {ex}") from None
    KERNEL_CACHE.put(kernel_key, t)
    return t


def _peephole(t: Translation, labels: set[int], raw: set[int], vl: int, p_all: int) -> None:
    """Run lower/peephole.py over the unit in address order. A stretch starts at a label, after
    an instruction that does not fall through or is not followed by the next one (data), and
    around hand-written regions."""
    seq, bodies = _in_address_order(t)
    optimize(bodies, stretch_starts(seq, labels, raw), vl, p_all, detours_of(t.outlined, p_all))
    t.lines = list(zip(seq, bodies))


def _in_address_order(t: Translation) -> tuple[list[Insn], list[list[str]]]:
    """The unit's instructions in address order and copies of their bodies (for the passes
    across instructions, which rewrite the bodies and store them back in ``t.lines``)."""
    rows = sorted(((i, list(b)) for i, b in t.lines if i is not None), key=lambda r: r[0].address)
    return [i for i, _ in rows], [b for _, b in rows]


def _fuse(t: Translation, labels: set[int], raw: set[int], live: dict, vlive: dict, splats: dict,
          rm: RegMap, plan: BorrowPlan) -> None:
    """Fused x86 sequences (lower/fuse.py: the int8 dot triple) over the lowered unit."""
    if not splats or not any(i is not None and i.mnemonic == "vpmaddubsw" for i, _ in t.lines):
        return
    temps = rm.free_p_low + rm.free_p_high
    if not temps:
        return
    seq, bodies = _in_address_order(t)

    def plain(k: int) -> bool:
        return not any(peephole_effects(l, rm.p_all).barrier for l in bodies[k])

    def names(k: int) -> set:
        return peephole_named(bodies[k])
    zero_above = None
    if 256 in rm.p_width and any(i.mnemonic == "vpmaddubsw" and i.encoding == "vex" for i in seq):
        prog = t.program
        za = zero_above_in(list(prog.insns.values()), lambda i: _successors(prog, i), set(prog.entries))
        zero_above = lambda a: za[a][0]     # noqa: E731
    starts = stretch_starts(seq, labels, raw)
    groups = fuse_groups(seq, starts, splats, vlive, live, _vec_rw, plain, names, zero_above)
    if not groups:
        return
    t.fused = fuse_lines(seq, bodies, groups, p_all=rm.p_all, p_temps=temps, p_width=rm.p_width,
                         vlive=vlive, touched=_vec_rw, outlined=t.outlined, number=[0], pre=plan.pre,
                         post=plan.post, starts=starts, plain=plain, names=names)
    t.lines = list(zip(seq, bodies))


def _pair_nan_checks(t: Translation, labels: set[int], raw: set[int], rm: RegMap, vlive: dict,
                     plan: BorrowPlan) -> None:
    """One NaN check for two independent FP results (lower/nancheck.py)."""
    if not t.outlined:
        return
    seq, bodies = _in_address_order(t)

    def spare(k: int, n: int) -> list[int]:
        """z registers no x86 value lives in over instructions k .. k+n-1, which none names."""
        busy: frozenset = frozenset()
        for i in seq[k:k + n]:
            rd, wr = _vec_rw(i)
            busy = busy | vlive.get(i.address, _ALL_Z) | rd | wr
        return [z for z in range(31, -1, -1) if z not in busy]
    def live(k: int, n: int) -> list[frozenset]:
        """x86 values in z registers after each instruction; a register borrowed over a run
        (lower/borrow.py) that goes on past the instruction holds none (it is reloaded later)."""
        out = []
        for m in range(k, k + n):
            v = vlive.get(seq[m].address, _ALL_Z)
            if m + 1 < len(seq):
                v = v - (plan.dead.get(seq[m].address, frozenset()) & plan.dead.get(seq[m + 1].address, frozenset()))
            out.append(frozenset(f"z{z}" for z in v))
        return out
    dead = pair_nan_checks(bodies, stretch_starts(seq, labels, raw), t.outlined, rm.p_all, spare,
                           rm.free_p_low + rm.free_p_high, live)
    if dead:
        t.lines = list(zip(seq, bodies))
        t.fused.update({label: Fused(d) for label, d in dead.items()})


def stretch_starts(insns: list[Insn], labels: set[int], raw: set[int] = frozenset()) -> list[bool]:
    """For instructions in address order: does a straight-line stretch start at each?"""
    starts, prev = [], None
    for insn in insns:
        a = insn.address
        starts.append(prev is None or a in labels or a in raw or prev.address in raw
                      or prev.flow in _NO_FALLTHROUGH or prev.next_address != a)
        prev = insn
    return starts


def _safe(label_of):
    def f(a: int) -> str:
        try:
            return label_of(a)
        except KeyError:
            raise _OutOfUnit(a) from None
    return f


class _OutOfUnit(Unsupported):
    def __init__(self, a: int):
        Exception.__init__(self, f"address {a:#x} is outside the translated code")
        self.reason = f"address {a:#x} is outside the translated code"
        self.insn = None


def _meet_into(states: dict, a: int, st: dict) -> None:
    if a not in states:
        states[a] = dict(st)
    else:
        old = states[a]
        states[a] = {k: v for k, v in old.items() if st.get(k) == v}


def _relocate(insn: Insn, prog: Program):
    """Escape hatch `relocate_label_address`: ``mov r64, imm64`` whose value is an address inside
    this kernel (Xbyak's ``mov(reg, label)``) becomes ``adr`` of the translated label."""
    if insn.mnemonic != "mov" or len(insn.ops) != 2 or not isinstance(insn.ops[1], Imm):
        return None
    dst, imm = insn.ops
    if not isinstance(dst, Gpr) or dst.bits != 64 or imm.bits != 64:
        return None
    v = imm.value & (2 ** 64 - 1)
    if not (prog.base <= v < prog.base + len(prog.code)):
        return None
    from .lower.regmap import RegMap as _R
    return [f"adr x{_R.x_of(dst.index)}, {_label(v)}"]


def _layout(t: Translation, prog: Program, labels: set[int]) -> None:
    """Interleave translated code and the kernel's data, in address order."""
    out: list[str] = []
    if t.symbol:
        out += [".text", f".globl {t.symbol}", f".type {t.symbol}, %function", f"{t.symbol}:"]
        out += _prologue(t)
    else:
        out += t.setup
    items: list[tuple[int, int, object]] = []
    for insn, body in t.lines:
        items.append((insn.address, 0, (insn, body)))
    for (s, e) in prog.data:
        items.append((s, 1, (s, e)))
    items.sort(key=lambda x: (x[0], x[1]))
    listing: list[tuple[Optional[Insn], list[str]]] = []
    if t.setup:
        listing.append((None, ["// set-up: constant predicates"] + t.setup))
    for a, kind, obj in items:
        if kind == 0:
            insn, body = obj
            lab = [f"{_label(a)}:"] if a in labels else []
            t.spans[a] = (len(out) + len(lab), len(out) + len(lab) + len(body))
            out += lab + body
            listing.append((insn, lab + body))
        else:
            s, e = obj
            data = prog.data_bytes(s, e)
            dl = []
            i = 0
            while i < len(data):
                addr = s + i
                if addr in labels:
                    dl.append(f"{_label(addr)}:")
                j = i + 1
                while j < len(data) and (s + j) not in labels and j - i < 16:
                    j += 1
                dl.append(".byte " + ", ".join(f"{b:#04x}" for b in data[i:j]))
                i = j
            dl.append(".balign 4")
            out += dl
            listing.append((None, [f"// data {s:#x}..{e:#x} ({e - s} bytes)"]))
    if t.symbol:
        out += _epilogue(t)
    if t.outlined:
        out += [".balign 4", "// out-of-line slow paths", "brk #0xdead"] + t.outlined
        listing.append((None, ["// out-of-line slow paths"] + t.outlined))
    t._asm_lines = out
    t.lines = listing


def _prologue(t: Translation) -> list[str]:
    """AAPCS64 entry: keep callee-saved state, give the x86 code a private stack and scratch."""
    return [
        "stp x29, x30, [sp, #-16]!", "mov x29, sp",
        "stp x19, x20, [sp, #-16]!", "stp x21, x22, [sp, #-16]!", "stp x23, x24, [sp, #-16]!",
        "stp x25, x26, [sp, #-16]!", "stp x27, x28, [sp, #-16]!",
        "stp d8, d9, [sp, #-16]!", "stp d10, d11, [sp, #-16]!", "stp d12, d13, [sp, #-16]!",
        "stp d14, d15, [sp, #-16]!",
        f"sub sp, sp, #{(STACK_BYTES + SCRATCH_BYTES) >> 12}, lsl #12",
        f"mov x{X_CTX}, sp",
        f"str wzr, [x{X_CTX}, #{SCRATCH_MXCSR}]",           # x86 MXCSR = 0x1F80 (system.yaml)
        f"add x15, sp, #{(STACK_BYTES + SCRATCH_BYTES) >> 12}, lsl #12",
        "sub x15, x15, #64",
        "adr x16, .Lx2sve_exit", "str x16, [x15, #-8]!",     # x86 `ret` returns here
    ] + t.setup


def _epilogue(t: Translation) -> list[str]:
    return [
        ".balign 4", ".Lx2sve_exit:", "mov x0, x6",             # rax -> x0
        f"add sp, sp, #{(STACK_BYTES + SCRATCH_BYTES) >> 12}, lsl #12",
        "ldp d14, d15, [sp], #16", "ldp d12, d13, [sp], #16", "ldp d10, d11, [sp], #16",
        "ldp d8, d9, [sp], #16",
        "ldp x27, x28, [sp], #16", "ldp x25, x26, [sp], #16", "ldp x23, x24, [sp], #16",
        "ldp x21, x22, [sp], #16", "ldp x19, x20, [sp], #16", "ldp x29, x30, [sp], #16",
        "ret", f".size {t.symbol}, .-{t.symbol}",
    ]


# ---------------------------------------------------------------------------------------------
# Lowering cache (benchmarks/, issue 6). JIT code repeats itself (unrolled loops, the same kernel
# shapes across kernels), so `Engine.lower` results are memoised. A result depends on the
# instruction's bytes, the engine (tables, NaN mode, the unit's RegMap), every UnitContext field
# except the label plumbing (flags live-out, free vector registers, ...) and the incoming flag
# state. Local labels (.LxN) a lowering takes from the unit's counter are renumbered on a hit, and
# its out-of-line lines are appended again, so output is identical to lowering afresh. A lowering
# that asked `label_of` (branch targets, rip-relative, {next}) depends on addresses: it is only
# reused inside the same translate() call (the flag-state passes), keyed by address as well.
# `LOWER_CACHE.enabled = False` (or X2SVE_LOWER_CACHE=0 in the environment) turns it off.
import os as _os  # noqa: E402
import re as _re  # noqa: E402
from dataclasses import fields as _dc_fields  # noqa: E402
from operator import attrgetter as _attrgetter  # noqa: E402

_LX = _re.compile(r"\.Lx(\d+)\b")
_CTX_SKIP = frozenset({"label_of", "label_counter", "outlined", "z_consulted"})


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, (set, frozenset)):
        return frozenset(v)
    return v


def _fkey(v):
    t = type(v)
    if t is set:
        return frozenset(v)
    if t is list:
        return tuple(v)
    if t is dict:
        return _freeze(v)
    return v


class _LowerCache:
    MAX = 1 << 17

    def __init__(self):
        self.enabled = _os.environ.get("X2SVE_LOWER_CACHE", "1") != "0"
        self.buckets: dict = {}
        self.size = 0
        self.hits = self.misses = 0

    def clear(self) -> None:
        self.buckets.clear()
        self.size = 0
        self.hits = self.misses = 0

    def unit(self, eng: Engine) -> "_UnitLowering":
        """The lowering entry point for one translate() call."""
        extra = tuple(sorted((k, _freeze(v)) for k, v in vars(eng).items() if k not in ("tables", "rm")))
        key = (id(eng.tables), _freeze(vars(eng.rm)), extra)
        b = self.buckets.get(key)
        if b is None or b[0] is not eng.tables:
            if len(self.buckets) > 256:
                self.clear()
            b = self.buckets[key] = (eng.tables, {})
        return _UnitLowering(self, eng, b[1])


class _UnitLowering:
    __slots__ = ("cache", "eng", "shared", "local", "ctx_fields", "ctxs", "ctx_keys", "fz_index")

    def __init__(self, cache: _LowerCache, eng: Engine, shared: dict):
        self.cache, self.eng, self.shared, self.local = cache, eng, shared, {}
        self.ctx_fields = None
        self.ctxs: dict = {}        # (flags live-out, vectors live-out) -> UnitContext
        self.ctx_keys: dict = {}    # id(context made by .context) -> (it, key part, same w/o free_z)
        self.fz_index = None        # where free_z sits in a context's key part

    def context(self, a: int, live: dict, vlive: dict, label_of, counter: list,
                outlined: list, zero_above: Optional[frozenset] = None,
                splat: Optional[frozenset] = None, reuse: Optional[str] = None) -> UnitContext:
        """The UnitContext for the instruction at ``a``: one object per distinct (flags live
        out, vector registers live out) in the unit, made once, with its cache-key part computed
        once. The engine only reads a context (the label counter and the outlined list are the
        unit's, shared), so the same object serves every instruction and pass that needs it."""
        fl = live.get(a, _NOTHING)
        vz = vlive.get(a, _NOTHING)
        k = (fl, vz, zero_above, splat, reuse)
        c = self.ctxs.get(k)
        if c is None or c.label_counter is not counter or c.outlined is not outlined \
                or self._label_fn(c) is not label_of:
            c = UnitContext(flags_live_out=set(fl), label_of=_safe(label_of), label_counter=counter,
                            outlined=outlined, free_z=[z for z in range(31, -1, -1) if z not in vz],
                            zero_above=zero_above, splat=splat, reuse=reuse)
            c._x2sve_label_fn = label_of
            self.ctxs[k] = c
            try:
                ck = tuple(map(_fkey, self._ctx_vals(c)))
                hash(ck)
                self.ctx_keys[id(c)] = (c, ck, self._without_free_z(ck))
            except TypeError:       # unhashable parts: lower() freezes them deeply each time
                pass
        return c

    def _without_free_z(self, ck: tuple) -> tuple:
        """The key part for lowerings that never asked for a vector temporary: those do not
        depend on which registers are dead, so every liveness context shares them."""
        i = self.fz_index
        return ck[:i] + ("*",) + ck[i + 1:] if i is not None and i < len(ck) else ck

    @staticmethod
    def _label_fn(c):
        return getattr(c, "_x2sve_label_fn", None)

    def _ctx_vals(self, ctx):
        get = self.ctx_fields
        if get is None:     # one tuple of every context field that can change the result
            names = [f.name for f in _dc_fields(ctx) if f.name not in _CTX_SKIP]
            self.fz_index = names.index("free_z") if "free_z" in names else None
            get = self.ctx_fields = _attrgetter(*names, "label_counter") if names else None
        return get(ctx)[:-1] if get is not None else ()

    def lower(self, insn: Insn, ctx: UnitContext, flags_in: dict) -> tuple[list[str], dict]:
        c = self.cache
        if not c.enabled:
            return self.eng.lower(insn, ctx, flags_in)
        ent = self.ctx_keys.get(id(ctx))
        if ent is not None and ent[0] is ctx:
            ck, cknz = ent[1], ent[2]
        else:
            ck = tuple(map(_fkey, self._ctx_vals(ctx)))
            cknz = self._without_free_z(ck)
        fk = tuple(sorted(flags_in.items())) if flags_in else ()
        key, nzkey = (insn.raw, fk, ck), (insn.raw, fk, cknz)
        shared = self.shared
        try:
            hit = shared.get(nzkey) or shared.get(key)
        except TypeError:          # a context value with unhashable parts: freeze it deeply
            key = nzkey = (insn.raw, _freeze(flags_in), tuple(map(_freeze, self._ctx_vals(ctx))))
            hit = shared.get(key)
        if hit is None:
            hit = self.local.get((insn.address, nzkey)) or self.local.get((insn.address, key))
        if hit is not None:
            c.hits += 1
            return self._replay(insn, ctx, hit)
        c.misses += 1
        return self._record(insn, ctx, flags_in, key, nzkey)

    def _record(self, insn, ctx, flags_in, key, nzkey=None):
        counter, outlined = ctx.label_counter, ctx.outlined
        c0, o0 = counter[0], (len(outlined) if outlined is not None else 0)
        asked = []
        lab = ctx.label_of
        if lab is not None:
            def label_of(a, _f=lab):
                asked.append(a)
                return _f(a)
            ctx.label_of = label_of
        body = fout = err = None
        ctx.z_consulted = False
        try:
            body, fout = self.eng.lower(insn, ctx, flags_in)
        except Unsupported as ex:
            err = ex.reason
        finally:
            ctx.label_of = lab
        c1 = counter[0]
        out = outlined[o0:] if outlined is not None else []

        def tmpl(lines):
            if c1 == c0:
                return None
            return [(_LX.sub(lambda m: f".Lx{{{int(m[1]) - c0 - 1}}}" if c0 < int(m[1]) <= c1 else m[0],
                             l.replace("{", "{{").replace("}", "}}")) if ".Lx" in l else None)
                    for l in lines]
        entry = (list(body) if body is not None else None, tmpl(body or []), dict(fout) if fout is not None else None,
                 list(out), tmpl(out), c1 - c0, err)
        if nzkey is not None and not ctx.z_consulted and err is None:
            key = nzkey            # no vector temporary asked for: valid under any liveness
        if asked:
            self.local[(insn.address, key)] = entry
        else:
            if self.cache.size >= self.cache.MAX:
                self.cache.clear()
                self.shared.clear()
            self.shared[key] = entry
            self.cache.size += 1
        if err is not None:
            raise Unsupported(insn, err)
        return body, fout

    @staticmethod
    def _replay(insn, ctx, entry):
        body, btmpl, fout, out, otmpl, nlab, err = entry
        if nlab:
            base = ctx.label_counter[0]
            ctx.label_counter[0] = base + nlab
            nums = range(base + 1, base + nlab + 1)
            if body is not None:
                body = [t.format(*nums) if t is not None else l for l, t in zip(body, btmpl)]
            if out:
                out = [t.format(*nums) if t is not None else l for l, t in zip(out, otmpl)]
        elif body is not None:
            body = list(body)
        if out and ctx.outlined is not None:
            ctx.outlined.extend(out)
        if err is not None:
            raise Unsupported(insn, err)
        return body, dict(fout)


LOWER_CACHE = _LowerCache()


# ---------------------------------------------------------------------------------------------
# Flag + vector liveness in one pass (benchmarks/, issue 6): the same equations as
# `flag_liveness` and `vector_liveness` above (successors from `_successors`, effects from
# `_flag_effects` / `_vec_effects`), solved together over int bit masks with each instruction's
# successors and effects looked up once. tests/test_translate_fast.py checks that the results equal
# the two reference functions on the corpus.
_NOTHING: frozenset = frozenset()
_FLAG_BIT = {n: 1 << i for i, n in enumerate(sorted(ALL_FLAGS))}


@lru_cache(maxsize=65536)
def _flag_masks(raw: bytes) -> tuple[int, int]:
    rd, wr = _flag_effects(raw)
    return sum(_FLAG_BIT[f] for f in rd), sum(_FLAG_BIT[f] for f in wr)


@lru_cache(maxsize=65536)
def _vec_masks(raw: bytes) -> tuple[int, int]:
    rd, kill = _vec_effects(raw)
    return sum(1 << z for z in rd), sum(1 << z for z in kill)


_ALL_Z = frozenset(range(32))


def _operand_facts(prog: Program, order: list[Insn], tables, claim: str, analyse, context) -> dict:
    """For each VEX/EVEX instruction whose entry has ``claim`` (a truthy attribute): what
    ``context(insn, state)`` makes of the forward dataflow ``analyse`` there (empty: left out)."""
    cand = [i for i in order if i.encoding in ("vex", "evex")
            and getattr(tables.entry_for(i.mnemonic), claim, None)]
    if not cand:
        return {}
    state = analyse(order, lambda i: _successors(prog, i), set(prog.entries))
    return {i.address: z for i in cand if (z := context(i, state[i.address]))}


def _zero_above(prog: Program, order: list[Insn], tables) -> dict[int, frozenset]:
    """For each instruction whose entry says ``keeps_zero``: the vector operands that are zero
    above its destination's width (lower/upper.py), so the engine can drop the zeroing."""
    return _operand_facts(prog, order, tables, "claims_keeps_zero", zero_above_in, zero_context)


def _splats(prog: Program, order: list[Insn], tables) -> dict[int, frozenset]:
    """For each instruction whose entry has rules for constant operands (``<op>_splat``): the
    operands known to hold a splat there (lower/splat.py)."""
    return _operand_facts(prog, order, tables, "splats", splat_in,
                          lambda insn, st: splat_context(insn, st[1]))


REUSE_WINDOW = 6


def _reuses(prog: Program, order: list[Insn], tables, labels: set[int]) -> dict[int, str]:
    """For each instruction whose entry has ``reuses`` rules: the source operand (of those the
    rules name) that a neighbouring instruction of the same mnemonic, the next one or else the
    previous one, at most REUSE_WINDOW instructions away in the same straight-line stretch, reads
    from the same register with no write to it in between. Only a choice between rules that
    verify proves alike."""
    from .ir import Vec
    from .lower.splat import effects as reg_effects
    if not any(getattr(tables.entry_for(i.mnemonic), "reuses", None) for i in order):
        return {}
    seq = sorted(order, key=lambda i: i.address)
    starts = stretch_starts(seq, labels)

    def partner(n: int, step: int) -> Optional[int]:
        """Index of the nearest same-mnemonic instruction in direction ``step`` within the
        window and the stretch, or None."""
        m = n
        for _ in range(REUSE_WINDOW):
            if not 0 <= m + step < len(seq) or starts[max(m, m + step)]:
                return None
            m += step
            if seq[m].mnemonic == seq[n].mnemonic:
                return m
        return None

    def shared(e, a: int, b: int, names: list[str]) -> Optional[str]:
        written: set[int] = set()
        for k in range(a, b):
            written |= reg_effects(seq[k].raw)[1]
        oa, ob = dict(zip(e.operands, seq[a].ops)), dict(zip(e.operands, seq[b].ops))
        for name in names:
            x, y = oa.get(name), ob.get(name)
            if isinstance(x, Vec) and isinstance(y, Vec) and x.index == y.index and x.index not in written:
                return name
        return None

    out: dict[int, str] = {}
    for n, insn in enumerate(seq):
        e = tables.entry_for(insn.mnemonic)
        want = getattr(e, "reuses", None)
        if not want:
            continue
        nxt, prev = partner(n, 1), partner(n, -1)
        hit = (shared(e, n, nxt, want) if nxt is not None else None) \
            or (shared(e, prev, n, want) if prev is not None else None)
        if hit:
            out[insn.address] = hit
    return out


def _vec_touched(insn: Insn) -> frozenset:
    """The z registers an instruction reads or writes (all of them for vzeroupper/vzeroall)."""
    if insn.mnemonic.startswith("vzero"):
        return _ALL_Z
    r, k = _vec_masks(insn.raw)
    m = r | k
    return frozenset(z for z in range(32) if m >> z & 1)


def unit_liveness(p: Program, order: list[Insn]) -> tuple[dict[int, frozenset], dict[int, frozenset]]:
    """(flag_liveness(p, order), vector_liveness(p, order)), computed together."""
    idx = {insn.address: i for i, insn in enumerate(order)}
    n = len(order)
    succ: list = [None] * n
    frd = [0] * n
    fkeep = [0] * n         # ~written, as a mask of all six flags
    vrd = [0] * n
    vkeep = [0] * n
    vfix = [None] * n       # a constant vector live-out (return / leaving the unit / call)
    used = 0
    allf = (1 << len(_FLAG_BIT)) - 1
    for i, insn in enumerate(order):
        ss = _successors(p, insn)
        succ[i] = [idx[s] for s in ss]
        r, w = _flag_masks(insn.raw)
        frd[i], fkeep[i] = r, allf & ~w
        r, k = _vec_masks(insn.raw)
        used |= r | k
        if insn.mnemonic == "vzeroupper":   # keeps the low 128 bits: needs only what is live after
            r, k = 0, 0
        vrd[i], vkeep[i] = r, ~k
        flow = insn.flow
        if flow == "return":
            vfix[i] = 3
        elif not ss or (insn.target is not None and insn.target not in p.insns) \
                or flow in ("indirect_branch", "indirect_call") or flow == "call":
            vfix[i] = -1
    for i in range(n):
        if vfix[i] == -1:
            vfix[i] = used
    fin = [0] * n
    vin = [0] * n
    fout = [0] * n
    vout = [0] * n
    rev = range(n - 1, -1, -1)
    changed = True
    while changed:
        changed = False
        for i in rev:
            ss = succ[i]
            o = 0
            for s in ss:
                o |= fin[s]
            fout[i] = o
            x = frd[i] | (o & fkeep[i])
            if x != fin[i]:
                fin[i] = x
                changed = True
            v = vfix[i]
            if v is None:
                v = 0
                for s in ss:
                    v |= vin[s]
            vout[i] = v
            x = vrd[i] | (v & vkeep[i])
            if x != vin[i]:
                vin[i] = x
                changed = True
    fsets: dict = {}
    vsets: dict = {}
    names = sorted(_FLAG_BIT)
    live = {}
    vlive = {}
    for i, insn in enumerate(order):
        m = fout[i]
        f = fsets.get(m)
        if f is None:
            f = fsets[m] = frozenset(nm for nm in names if m & _FLAG_BIT[nm])
        live[insn.address] = f
        m = vout[i]
        f = vsets.get(m)
        if f is None:
            f = vsets[m] = frozenset(z for z in range(32) if m >> z & 1)
        vlive[insn.address] = f
    return live, vlive


def clear_caches() -> None:
    """Forget everything this module memoises (lowering cache, per-instruction effects)."""
    LOWER_CACHE.clear()
    for f in (_flag_effects, _vec_uses, _vec_effects, _flag_masks, _vec_masks):
        f.cache_clear()


# ---------------------------------------------------------------------------------------------
# Whole-kernel cache (benchmarks/, issue 6). A JIT hands the same kernel over and over; a
# translate() call whose every argument equals an earlier successful one (the code bytes, base,
# nan_mode, symbol, raw_regions, ... and the very same tables object) gets a copy of that earlier
# Translation instead of translating again. The copy's lists are its own; its `program` (the
# decoded Program) is shared between the copies: treat it as read-only. It is a cache: it is off
# whenever LOWER_CACHE is (LOWER_CACHE.enabled = False, X2SVE_LOWER_CACHE=0) and
# clear_caches() empties it; benchmarks report cold numbers with it empty.
import copy as _copy  # noqa: E402


class _KernelCache:
    MAX_KERNELS = 256
    MAX_INSNS = 1 << 17          # x86 instructions held in all (~0.7 KiB each: ~90 MiB at most)

    def __init__(self):
        self.entries: dict = {}
        self.insns = 0
        self.hits = self.misses = 0

    def clear(self) -> None:
        self.entries.clear()
        self.insns = 0
        self.hits = self.misses = 0

    def key(self, args: dict):
        """The cache key of one translate() call from its arguments (``locals()`` on entry, so
        that a new parameter is part of the key without touching this), or None: not cached."""
        if not LOWER_CACHE.enabled:
            return None
        tables = args.get("tables") or default_tables()
        try:
            k = tuple((n, bytes(v) if n == "code" else id(tables) if n == "tables" else _freeze(v))
                      for n, v in sorted(args.items()))
            hash(k)
        except TypeError:
            return None
        return k, tables

    def get(self, key) -> Optional[Translation]:
        e = self.entries.get(key[0])
        if e is None or e[0] is not key[1]:
            self.misses += 1
            return None
        self.hits += 1
        return _copy_translation(e[1])

    def put(self, key, t: Translation) -> None:
        if key is None or self.MAX_KERNELS <= 0:
            return
        n = len(t.program.insns)
        if len(self.entries) >= self.MAX_KERNELS or self.insns + n > self.MAX_INSNS:
            self.clear()
        self.entries[key[0]] = (key[1], _copy_translation(t))
        self.insns += n


def _copy_translation(t: Translation) -> Translation:
    c = _copy.copy(t)
    c.lines = [(i, list(b)) for i, b in t.lines]
    c.data_lines = {k: list(v) for k, v in t.data_lines.items()}
    c.setup, c.unsupported, c.outlined = list(t.setup), list(t.unsupported), list(t.outlined)
    c.fused, c.spans = dict(t.fused), dict(t.spans)
    c._asm_lines = list(t._asm_lines)
    return c


KERNEL_CACHE = _KernelCache()
_clear_unit_caches = clear_caches


def clear_caches() -> None:     # noqa: F811 (adds the kernel cache)
    """Forget everything this module memoises (whole kernels, lowerings, per-instruction effects)."""
    KERNEL_CACHE.clear()
    _clear_unit_caches()
