"""Peephole passes over a unit's lowered A64, across x86 instruction boundaries.

Each x86 instruction is lowered alone, so neighbours recompute what the previous one already
has in a register: unrolled brgemm code forms ``add x16, x8, #256`` for every broadcast from
``[r11+0x100]``, ``[r11+0x104]``, ..., and the int8 pair ``vpmaddubsw``/``vpmaddwd`` widens the
same weight and all-ones vectors again for each accumulator. Two passes run over straight-line
stretches of the unit (a label, a branch or an unknown instruction ends one):

``reuse_addresses``
    An address temporary (``add x16, xB, #K`` used only as ``[x16, ...]`` memory bases) is
    replaced by a *cached* base: a register of ``ADDRESS_POOL`` that still holds ``xB + K0``
    from an earlier instruction, with the difference folded into each use's immediate (kept
    only where the encoder accepts the new immediate). Otherwise the address goes into a pool
    register (same instruction count) so later instructions can reuse it.

``drop_recomputations``
    An instruction is dropped when it is *pure* (writes one register, no flags, no memory, does
    not read its own destination) and the identical instruction already ran in this stretch
    with neither its destination nor any source (nor memory, for loads) written since: the
    register already holds that value.

In exact NaN mode every FP instruction branches to an out-of-line fix-up that returns to a
label right after it. Such a slow path is a *detour* (``detours_of``) when it is straight-line
code the passes model: the branch and its return label then do not end the stretch, and at
the label the passes forget only what the slow path writes. An address temporary that a slow
path reads is left alone.

Both passes only need to know which registers each A64 line writes. ``effects`` gives that
from the mnemonic: the families in ``_SINGLE_DEST`` write their first operand only, stores
write memory (and a written-back base), and anything else ends the stretch. The translator's
temporaries (x16, x17, x19..x26) are dead at x86 instruction boundaries (lower/regmap.py), which
is what lets an address temporary be renamed.

Proof: verify/peephole_check.py runs every straight-line segment the passes change, before
and after, with the slow paths it may enter, on random NaN-rich states in unicorn and compares
all registers and memory (tests/test_peephole.py; both corpora in both NaN modes in the README);
the whole-kernel runs (translator/e2e) run the optimised kernels bit-exact against native x86.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

ADDRESS_POOL = ("x25", "x26", "x24", "x23", "x22", "x21", "x20", "x19")
ADDRESS_TEMPS = ("x16", "x17")

_REG = re.compile(r"(?<![\w.#])(?:([xw])(\d{1,2})|(sp|wsp)|([zvqdshb])(\d{1,2})|p(\d{1,2}))(?![\w])")
_BRANCH = frozenset({"b", "bl", "blr", "br", "ret", "cbz", "cbnz", "tbz", "tbnz", "brk", "svc", "hlt",
                     "udf", "eret", "bti"})
_NOP = frozenset({"prfm", "prfb", "prfh", "prfw", "prfd", "nop"})
_STORES = frozenset({"str", "strb", "strh", "stur", "sturb", "sturh", "stp", "stnp",
                     "st1b", "st1h", "st1w", "st1d", "stnt1b", "stnt1h", "stnt1w", "stnt1d"})
# Families whose only register write is the first operand (NZCV aside: see _SETS_FLAGS).
_SINGLE_DEST = frozenset("""
add sub and orr eor bic orn eon lsl lsr asr ror mov movz movn movk mvn neg mul madd msub smulh umulh
udiv sdiv adr adrp csel csinc csinv csneg cset csetm cinc ubfx sbfx ubfiz sbfiz bfi bfxil extr clz
cls rbit rev rev16 rev32 sxtb sxth sxtw uxtb uxth uxtw adds subs ands bics orrs negs adc sbc adcs sbcs
ldr ldrb ldrh ldrsb ldrsh ldrsw ldur ldurb ldurh ldursb ldursh ldursw
ld1b ld1h ld1w ld1d ld1sb ld1sh ld1sw ld1rb ld1rh ld1rw ld1rd ld1rsb ld1rsh ld1rsw ld1rqb ld1rqh
ld1rqw ld1rqd ldnt1b ldnt1h ldnt1w ldnt1d
dup fdup fmov index insr cpy sel movprfx
fadd fsub fmul fdiv fmax fmin fmaxnm fminnm fabs fneg fsqrt fmla fmls fnmla fnmls fmad fmsb fnmad
fnmsb frinta frinti frintm frintn frintp frintx frintz fcvt fcvtzs fcvtzu scvtf ucvtf frecpe
frsqrte frecps frsqrts fscale fabd fcmeq fcmne fcmgt fcmge fcmlt fcmle fcmuo facgt facge
sqadd uqadd sqsub uqsub mla mls mad msb sdot udot smax smin umax umin sabd uabd abs cnot not
sunpklo sunpkhi uunpklo uunpkhi uzp1 uzp2 zip1 zip2 trn1 trn2 tbl ext splice compact rev revb revh
revw lasta lastb clasta clastb saddv uaddv smaxv sminv umaxv uminv faddv fmaxv fminv fmaxnmv
fminnmv andv orv eorv asrd lslr lsrr asrr subr fsubr fdivr sdivr udivr cntb cnth cntw cntd cntp
incb inch incw incd decb dech decw decd ptrue pfalse whilelo whilelt whilele whilels
cmpeq cmpne cmpgt cmpge cmplt cmple cmphi cmphs cmplo cmpls punpklo punpkhi brka brkb
fexpa ftssel ftsmul ftmad
""".split())
# Accumulating into their first operand (they read it whatever the predicate).
_ACCUMULATE = frozenset("fmla fmls fnmla fnmls fmad fmsb fnmad fnmsb mla mls mad msb sdot udot".split())
_FLAGS_ONLY = frozenset("cmp cmn tst ccmp ccmn fcmp fcmpe ptest".split())
# Of those, the ones that set NZCV (never dropped) and the ones that read it.
_SETS_FLAGS = frozenset("""adds subs ands bics orrs negs adcs sbcs whilelo whilelt whilele whilels
cmpeq cmpne cmpgt cmpge cmplt cmple cmphi cmphs cmplo cmpls ptrues brkas brkbs""".split())
_READS_FLAGS = frozenset("csel csinc csinv csneg cset csetm cinc adc sbc adcs sbcs".split())
# Pure, when no other rule forbids it: eligible to be dropped as a recomputation.
_DROPPABLE = frozenset("""
add sub and orr eor bic lsl lsr asr mov movz movn mvn neg adr adrp sxtb sxth sxtw uxtb uxth uxtw
ldr ldrb ldrh ldrsw ldur ld1b ld1h ld1w ld1d ld1sb ld1sh ld1sw ld1rb ld1rh ld1rw ld1rd ld1rsb
ld1rsh ld1rsw ld1rqb ld1rqh ld1rqw ld1rqd dup fdup fmov index sqadd uqadd sqsub uqsub
sunpklo sunpkhi uunpklo uunpkhi punpklo punpkhi uzp1 uzp2 zip1 zip2 trn1 trn2 tbl ptrue pfalse cntb cnth
cntw cntd
""".split())


@dataclass(frozen=True)
class Effects:
    """What one A64 line does, as far as the passes care. ``barrier``: the stretch ends here
    (labels, branches, anything not modelled)."""
    barrier: bool = False
    writes: frozenset = frozenset()
    reads: frozenset = frozenset()
    mem_read: bool = False
    mem_write: bool = False
    droppable: bool = False
    dst: Optional[str] = None


BARRIER = Effects(barrier=True)
NOTHING = Effects()


@dataclass(frozen=True)
class Detour:
    """An out-of-line slow path (the exact NaN fix-up) that ``b.<cond> entry`` enters and that
    ends with ``b ret``: straight-line code the passes understand. Across it a stretch goes on
    (``ret:`` is not a barrier); what it writes is forgotten there."""
    ret: str
    writes: frozenset
    reads: frozenset
    mem_write: bool
    lines: tuple = ()       # the slow path as it stands in the out-of-line area, label first


_LABEL = re.compile(r"^(\.L\w+):$")
_COND = re.compile(r"^b\.\w+ (\.L\w+)$")
_JUMP = re.compile(r"^b (\.L\w+)$")


def detours_of(outlined: list[str], p_all: int = -1) -> dict[str, Detour]:
    """The slow paths of a unit's out-of-line area that qualify as detours, by entry label."""
    out: dict[str, Detour] = {}
    block: list[str] = []
    name = None

    def close() -> None:
        if name is None or not block:
            return
        m = _JUMP.match(block[-1].strip())
        effs = [effects(l, p_all) for l in block[:-1]]
        if m is None or any(e.barrier for e in effs):
            return
        out[name] = Detour(m.group(1), frozenset().union(*(e.writes for e in effs)),
                           frozenset().union(*(e.reads for e in effs)), any(e.mem_write for e in effs),
                           (f"{name}:", *block))
    for line in outlined:
        m = _LABEL.match(line.strip())
        if m:
            close()
            name, block = m.group(1), []
        else:
            block.append(line)
    close()
    return out


class Flow:
    """Effects of lines in order, where a detour branch is no barrier and its return label
    forgets what the detour writes. ``entered``: the detour the last line branched to, if any
    (verify/peephole_check.py runs a segment with the slow paths it enters)."""

    def __init__(self, detours: dict[str, Detour], p_all: int = -1):
        self.detours, self.p_all = detours, p_all
        # return label -> (detour, registers written since its branch, [memory written since])
        self.pending: dict[str, tuple] = {}
        self.entered: Optional[Detour] = None

    def reset(self) -> None:
        self.pending.clear()

    def effects(self, line: str) -> Effects:
        self.entered = None
        if self.detours:
            if line.startswith("b."):
                m = _COND.match(line)
                if m and m.group(1) in self.detours:
                    d = self.entered = self.detours[m.group(1)]
                    self.pending[d.ret] = (d, set(), [False])
                    return NOTHING
            elif line.endswith(":") and self.pending:
                p = self.pending.pop(line[:-1], None)
                if p is not None:       # joined by the slow path: what either path wrote is unknown
                    d, since, mem = p
                    return Effects(writes=d.writes | frozenset(since), mem_write=d.mem_write or mem[0])
        e = effects(line, self.p_all)
        if e.barrier:
            self.pending.clear()
        elif self.pending and (e.writes or e.mem_write):
            for _, since, mem in self.pending.values():     # the fast path between branch and label
                since.update(e.writes)
                mem[0] = mem[0] or e.mem_write
        return e


def _canon(m: re.Match) -> str:
    if m.group(1):
        return f"x{int(m.group(2))}"
    if m.group(3):
        return "sp"
    if m.group(4):
        return f"z{int(m.group(5))}"
    return f"p{int(m.group(6))}"


@lru_cache(maxsize=1 << 16)
def registers(text: str) -> tuple[str, ...]:
    """Canonical registers named in an operand string, in order: x0..x30/sp (w views fold
    into x), z0..z31 (v/q/d/s/h/b views fold into z), p0..p15. xzr/wzr are no register."""
    return tuple(_canon(m) for m in _REG.finditer(text))


def named(lines: list[str]) -> set[str]:
    """Every register (canonical, as ``registers``) the lines name."""
    out: set[str] = set()
    for l in lines:
        out.update(registers(l))
    return out


@lru_cache(maxsize=1 << 18)
def effects(line: str, p_all: int = -1) -> Effects:
    """Effects of one A64 line; ``p_all`` is the all-true predicate (a merging ``p/m``
    instruction under it does not read its destination)."""
    s = line.strip()
    if not s or s.startswith("//"):
        return NOTHING
    if s.endswith(":") or s.startswith("."):
        return BARRIER
    mn, _, ops = s.partition(" ")
    mn = mn.lower()
    if mn in _BRANCH or mn.startswith("b."):
        return BARRIER
    if mn in _NOP:
        return NOTHING
    if mn in _FLAGS_ONLY:
        return Effects(reads=frozenset(registers(ops)))
    if "{" in ops and ("-" in ops[ops.index("{"):ops.index("}")] or "," in ops[ops.index("{"):ops.index("}")]):
        return BARRIER                      # register lists of more than one register
    regs = registers(ops)
    writeback = "!" in ops or bool(re.search(r"\],\s*#", ops))
    mem = "[" in ops or (mn.startswith("ld") and ".L" in ops)
    if mn in _STORES:
        base = registers(ops[ops.index("["):]) if mem else []
        w = frozenset(base[:1]) if writeback else frozenset()
        return Effects(writes=w, reads=frozenset(regs), mem_write=True)
    if mn not in _SINGLE_DEST or not regs:
        return BARRIER
    first = ops.split(",", 1)[0]
    dst_regs = registers(first)
    if len(dst_regs) != 1 or "[" in first:     # no destination, or one element of it (merges)
        return BARRIER
    dst = dst_regs[0]
    rest = ops[len(first):]
    reads = set(registers(rest))
    merging = re.search(r"\bp(\d+)/m\b", ops)
    destructive = (mn in _ACCUMULATE or mn in ("movk", "insr", "bfi", "bfxil")
                   or (merging and int(merging.group(1)) != p_all))
    if destructive:
        reads.add(dst)
    writes = {dst}
    if writeback and mem:
        base = registers(ops[ops.index("["):])
        writes.add(base[0])
    droppable = (mn in _DROPPABLE and mn not in _SETS_FLAGS and mn not in _READS_FLAGS
                 and not writeback and dst not in reads)
    return Effects(writes=frozenset(writes), reads=frozenset(reads), mem_read=mem,
                   droppable=droppable, dst=dst)


def optimize(bodies: list[list[str]], starts: list[bool], vl: int, p_all: int,
             detours: dict[str, Detour] | None = None) -> dict:
    """Both passes, in place, in order; returns how many lines each removed. ``detours``: the
    unit's qualifying slow paths (``detours_of``)."""
    return {"addresses": reuse_addresses(bodies, starts, vl, detours or {}, p_all),
            "recomputations": drop_recomputations(bodies, starts, p_all, detours or {})}


def drop_recomputations(bodies: list[list[str]], starts: list[bool], p_all: int,
                        detours: dict[str, Detour] | None = None) -> int:
    """Drop pure recomputations in place (see module docstring). ``starts[i]``: a stretch
    starts at body i (a label before it, or its predecessor does not fall through). Returns
    how many lines were dropped."""
    known: dict[str, str] = {}              # register -> the pure line whose value it holds
    srcs: dict[str, frozenset] = {}
    from_mem: set[str] = set()
    dropped = 0
    after_movprfx = False
    flow = Flow(detours or {}, p_all)
    for i, body in enumerate(bodies):
        if starts[i]:
            known.clear(); srcs.clear(); from_mem.clear(); flow.reset()
        keep = []
        for line in body:
            e = flow.effects(line)
            if e.barrier:
                known.clear(); srcs.clear(); from_mem.clear()
                keep.append(line)
                continue
            if e.droppable and known.get(e.dst) == line and not after_movprfx:
                dropped += 1
                continue
            keep.append(line)
            after_movprfx = line.lstrip().startswith("movprfx")
            if e.writes or e.mem_write:
                for r in list(known):
                    if r in e.writes or (srcs[r] & e.writes) or (e.mem_write and r in from_mem):
                        del known[r]
                        from_mem.discard(r)
            if e.droppable:
                known[e.dst] = line
                srcs[e.dst] = e.reads
                if e.mem_read:
                    from_mem.add(e.dst)
        if len(keep) != len(body):
            body[:] = keep
    return dropped


# ---------------------------------------------------------------------------------------------
# Address reuse

_ADDR_DEF = re.compile(r"^(add|sub) (x1[67]), (x\d+|sp), #(\d+)(?:, lsl #(12))?$")
_DEF_PREFIXES = ("add x16", "add x17", "sub x16", "sub x17")
_ADDR_IDX = re.compile(r"^add (x1[67]), (x\d+|sp), (x\d+)(?:, lsl #([0-3]))?$")
_ADDR_STEP = re.compile(r"^(add|sub) (x1[67]), \2, #(\d+)(?:, lsl #(12))?$")
_USE = re.compile(r"\[(x1[67])(?:, #(-?\d+)(, mul vl)?)?\]")


def _imm(op: str, n: str, sh: Optional[str]) -> int:
    v = int(n) << (12 if sh else 0)
    return v if op == "add" else -v


@dataclass
class _Cached:
    reg: str            # pool register holding base + k
    base: str           # "x8", or "x13+x10<<1" (base + index*scale)
    k: int
    deps: frozenset     # the registers base reads


def _address_group(body: list[str], detours: dict[str, Detour] | None = None, p_all: int = -1):
    """The one address temporary of a body, if it qualifies: returns (temp, first def line index,
    number of def lines, base, K, registers base reads) or None. Qualifies: exactly one
    definition group ``add|sub xT, xB, #imm`` or ``add xT, xB, xI{, lsl #s}`` (then K = 0), plus
    ``add|sub xT, xT, #imm`` steps, every other mention of xT a
    memory base ``[xT]``, ``[xT, #i]`` or ``[xT, #i, mul vl]``, and no label or branch in the body."""
    if not any(l.startswith(_DEF_PREFIXES) for l in body):
        return None
    found = None
    j = 0
    while j < len(body):
        m = _ADDR_DEF.match(body[j])
        x = None if m else _ADDR_IDX.match(body[j])
        if not m and not x:
            j += 1
            continue
        if found is not None:
            return None
        if m:
            t, base, deps = m.group(2), m.group(3), (m.group(3),)
            k = _imm(m.group(1), m.group(4), m.group(5))
        else:
            t, deps, k = x.group(1), (x.group(2), x.group(3)), 0
            base = f"{x.group(2)}+{x.group(3)}<<{x.group(4) or 0}"
        if t in deps or any(d in ADDRESS_TEMPS for d in deps):
            return None
        n = 1
        while j + n < len(body):
            s = _ADDR_STEP.match(body[j + n])
            if not s or s.group(2) != t:
                break
            k += _imm(s.group(1), s.group(3), s.group(4))
            n += 1
        found = (t, j, n, base, k, frozenset(deps))
        j += n
    if found is None:
        return None
    t, j0, n, base, k, deps = found
    flow = Flow(detours or {}, p_all)
    for j, line in enumerate(body):
        if j0 <= j < j0 + n:
            continue
        m = _COND.match(line.strip())
        if m and detours and m.group(1) in detours and t in detours[m.group(1)].reads | detours[m.group(1)].writes:
            return None                     # the slow path reads the temporary
        e = flow.effects(line)
        if e.barrier:
            return None
        if t in registers(line):
            if j < j0 or deps & e.writes:
                return None
            if t in e.writes or registers(_USE.sub("", line)).count(t):
                return None
    return found


@lru_cache(maxsize=1 << 14)
def _encodable(line: str) -> bool:
    from ..encode import EncodeError, encode_line
    try:
        encode_line(line)
        return True
    except EncodeError:
        return False


_SVE_LDST = re.compile(r"^(?:ld|st)(?:nt)?1s?([bhwd])$")
_ESIZE = {"b": 1, "h": 2, "s": 4, "d": 8}
_MSIZE = {"b": 1, "h": 2, "w": 4, "d": 8}


def _mul_vl_unit(line: str, vlb: int) -> Optional[int]:
    """Bytes per ``#1, mul vl`` of this load/store (None: it has no such form, or one this
    pass does not handle). ``ld1b {z0.s}`` steps VL/4 bytes, ``ldr z0`` VL bytes."""
    mn, _, ops = line.strip().partition(" ")
    first = ops.split(",", 1)[0].strip()
    if mn in ("ldr", "str"):
        return vlb if re.fullmatch(r"z\d+", first) else None
    m = _SVE_LDST.match(mn)
    t = re.fullmatch(r"\{z\d+\.([bhsd])\}", first)
    if m and t:
        return vlb // _ESIZE[t.group(1)] * _MSIZE[m.group(1)]
    return None


def _rebase(line: str, t: str, reg: str, delta: int, vlb: int) -> Optional[str]:
    """``line`` with its memory operand ``[t, ...]`` turned into ``[reg, ...]`` addressing the
    same bytes when ``reg`` = ``t`` - ``delta``; None when the new immediate does not fit (the
    encoder decides) or the form is not understood."""
    m = _USE.search(line)
    if m is None or m.group(1) != t or _USE.search(line, m.end()):
        return None
    unit = _mul_vl_unit(line, vlb)
    i = int(m.group(2) or 0)
    if unit is not None:                        # SVE whole-vector forms: [xn, #k, mul vl]
        if m.group(2) is not None and not m.group(3):
            return None
        off = i * unit + delta
        if off % unit:
            return None
        k = off // unit
        op = f"[{reg}, #{k}, mul vl]" if k else f"[{reg}]"
    else:
        if m.group(3):
            return None
        off = i + delta
        op = f"[{reg}, #{off}]" if off else f"[{reg}]"
    out = line[:m.start()] + op + line[m.end():]
    return out if _encodable(out) else None


def _add_lines(dst: str, src: str, delta: int) -> list[str]:
    """dst = src + delta in one or two ``add``/``sub`` (12-bit immediates, the first shifted by
    12); [] when delta is 0 or needs more."""
    op, d = ("add", delta) if delta > 0 else ("sub", -delta)
    if d == 0 or d >= 1 << 24:
        return []
    hi, lo = d >> 12, d & 0xFFF
    if not hi:
        return [f"{op} {dst}, {src}, #{lo}"]
    if not lo:
        return [f"{op} {dst}, {src}, #{hi}, lsl #12"]
    return [f"{op} {dst}, {src}, #{hi}, lsl #12", f"{op} {dst}, {dst}, #{lo}"]


def reuse_addresses(bodies: list[list[str]], starts: list[bool], vl: int,
                    detours: dict[str, Detour] | None = None, p_all: int = -1) -> int:
    """Rewrite address temporaries onto cached pool registers in place (module docstring).
    Returns how many lines were removed."""
    vlb = vl // 8
    cache: list[_Cached] = []               # most recently used last
    removed = 0
    flow = Flow(detours or {}, p_all)

    def kill(lines) -> None:
        for line in lines:
            e = flow.effects(line)
            if e.barrier:
                cache.clear()
            elif e.writes:
                cache[:] = [c for c in cache if c.reg not in e.writes and not (c.deps & e.writes)]

    for i, body in enumerate(bodies):
        if starts[i]:
            cache.clear()
            flow.reset()
        g = _address_group(body, detours, p_all)
        if g is None:
            kill(body)
            continue
        t, j0, n, base, k, deps = g
        kill(body[:j0])
        in_body = named(body)
        rest = body[j0 + n:]
        for c in reversed(cache):           # an earlier base + k0 within reach of every use
            if c.base != base or c.reg in in_body:
                continue
            new = [_rebase(l, t, c.reg, k - c.k, vlb) if t in registers(l) else l for l in rest]
            if all(x is not None for x in new):
                body[:] = body[:j0] + new
                removed += n
                cache.remove(c)
                cache.append(c)
                kill(new)
                break
        else:                               # keep this address in a pool register instead
            free = [r for r in ADDRESS_POOL if r not in in_body]
            taken = {c.reg for c in cache}
            reg = next((r for r in free if r not in taken), None) \
                or next((c.reg for c in cache if c.reg in free), None)
            new = [_rebase(l, t, reg, 0, vlb) if t in registers(l) else l for l in rest] if reg else [None]
            if reg is None or any(x is None for x in new):
                kill(body[j0:])
                continue
            defs = [re.sub(rf"\b{t}\b", reg, l) for l in body[j0:j0 + n]]
            for c in reversed(cache):       # fewer adds from a cached base + k0
                alt = _add_lines(reg, c.reg, k - c.k) if c.base == base and c.reg != reg \
                    and c.reg not in in_body else []
                if alt and len(alt) < len(defs):
                    removed += len(defs) - len(alt)
                    defs = alt
            body[:] = body[:j0] + defs + new
            kill(defs)
            cache.append(_Cached(reg, base, k, deps))
            kill(new)
    return removed
