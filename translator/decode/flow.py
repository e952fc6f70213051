"""Control-flow walk over JIT dumps that mix code and constant data.

``walk(code, base=0, entries=(0,))`` decodes only what control flow reaches from the entry
offsets (``entries`` are *offsets* into ``code``; absolute addresses ``>= base`` are accepted too
when ``base`` is non-zero). ``linear(code, base=0)`` sweeps the buffer front to back.
Both return a :class:`Program`.

What is followed: fallthrough, both ways of jcc / loop / jrcxz / xbegin, direct jmp, direct call
(target and fallthrough), fallthrough after indirect calls. A path stops at ret, ud2/ud0/ud1,
int3/int n, hlt, and indirect jmp. Indirect jmps are resolved when they match one of these
jump-table shapes (the register's definition is searched backwards in the same straight run):

* ``lea/mov r, <table>`` ... ``jmp qword [r + idx*8]``      (8-byte absolute entries, Xbyak putL)
* ``lea/mov r, <table>`` ... ``movsxd t, dword [r + idx*4]`` ... ``add t, r`` ... ``jmp t``
  (4-byte entries relative to the table)
* ``lea/mov r, <label>`` ... ``jmp r``                       (a computed single target)

``<table>`` is ``lea r, [rip+X]`` or ``mov r, imm64`` with X inside ``[base, base+len)``.
Unresolved ones are kept in ``Program.indirect`` with the value ``None``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..ir import Gpr, Imm, Insn, Mem
from .core import DecodeError, Decoder, format_bytes, gc_paused

__all__ = ["Program", "JumpTable", "WalkError", "walk", "linear", "infer_base"]

_STOP_MNEMONICS = frozenset({"hlt", "ud2", "ud0", "ud1", "int3", "int", "int1", "into"})
_STOP_FLOWS = frozenset({"return", "indirect_branch", "interrupt", "exception",
                         "unconditional_branch"})
_MAX_TABLE = 4096
_TAILS = [b"\x02" * max(n - 1, 0) for n in range(17)]   # state bytes of an instruction's tail


@dataclass(frozen=True)
class WalkError:
    """An instruction that could not be decoded on a reached path."""
    address: int
    offset: int
    raw: bytes
    message: str
    source: Optional[int] = None      # address of the instruction that led here (branch/fallthrough)

    def __str__(self) -> str:
        s = f"offset {self.offset:#x}: {self.message}"
        if self.raw:
            s += f" (bytes {format_bytes(self.raw)})"
        return s


@dataclass
class JumpTable:
    """A resolved indirect jump: ``kind`` is "abs64" (8-byte absolute entries), "rel32"
    (int32 entries added to ``table``) or "single" (jmp to a register holding one label)."""
    jump: int
    table: int
    kind: str
    targets: list[int]
    index: Optional[Gpr] = None

    @property
    def entry_bytes(self) -> int:
        return {"abs64": 8, "rel32": 4}.get(self.kind, 0)


@dataclass
class Program:
    code: bytes
    base: int
    insns: dict[int, Insn] = field(default_factory=dict)     # address -> Insn, sorted by address
    labels: set[int] = field(default_factory=set)            # branch/call/table targets inside
    entries: list[int] = field(default_factory=list)         # absolute entry addresses
    data: list[tuple[int, int]] = field(default_factory=list)  # [start, end) addresses not code
    data_refs: set[int] = field(default_factory=set)         # rip-rel / imm64 addresses inside
    indirect: dict[int, Optional[JumpTable]] = field(default_factory=dict)
    indirect_calls: set[int] = field(default_factory=set)
    external: dict[int, list[int]] = field(default_factory=dict)  # target -> [source addresses]
    errors: list[WalkError] = field(default_factory=list)
    # jump -> table address, for abs64 tables found inside the buffer whose entries point outside
    # it (the dump was walked at the wrong base; see infer_base)
    foreign_tables: dict[int, int] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.base + len(self.code)

    def ordered(self) -> list[Insn]:
        return list(self.insns.values())

    def contains(self, address: int) -> bool:
        return self.base <= address < self.end

    @property
    def code_bytes(self) -> int:
        return sum(i.length for i in self.insns.values())

    @property
    def coverage(self) -> float:
        return self.code_bytes / len(self.code) if self.code else 1.0

    @property
    def blocks(self) -> list[int]:
        """Basic-block leaders: entries, labels, and the instruction after every branch/call."""
        lead = set(self.entries) | self.labels
        for a, i in self.insns.items():
            if i.flow != "next" and i.next_address in self.insns:
                lead.add(i.next_address)
        return sorted(a for a in lead if a in self.insns)

    @property
    def unresolved(self) -> list[int]:
        return sorted(a for a, t in self.indirect.items() if t is None)

    def data_bytes(self, start: int, end: int) -> bytes:
        return self.code[start - self.base:end - self.base]


# ---------------------------------------------------------------------------------------------
def _ref_addresses(insn: Insn) -> Iterable[int]:
    for op in insn.ops:
        if isinstance(op, Mem) and op.rip:
            yield op.disp
        elif isinstance(op, Imm) and op.bits == 64:
            yield op.value


def _writes_reg(insn: Insn, reg: int) -> bool:
    """Conservative: does ``insn`` (possibly) write GPR ``reg``?"""
    if not insn.ops:
        return insn.mnemonic in ("call", "syscall", "cpuid", "rdtsc", "xchg")
    d = insn.ops[0]
    if isinstance(d, Gpr) and d.index == reg:
        return insn.mnemonic not in ("cmp", "test", "bt", "push")
    if insn.mnemonic in ("xchg", "xadd", "cmpxchg") and len(insn.ops) > 1:
        s = insn.ops[1]
        return isinstance(s, Gpr) and s.index == reg
    if insn.flow in ("call", "indirect_call"):
        return True
    return False


class _Walker:
    def __init__(self, code: bytes, base: int):
        self.code = bytes(code)
        self.base = base
        self.end = base + len(self.code)
        self.dec = Decoder(self.code, base)
        self.p = Program(self.code, base)
        self.state = bytearray(len(self.code))   # 0 unknown, 1 insn start, 2 insn tail
        self.work: list[tuple[int, Optional[int]]] = []
        self.pred: dict[int, int] = {}           # address -> fallthrough predecessor address

    # -- helpers --------------------------------------------------------------------------
    def inside(self, a: int) -> bool:
        return self.base <= a < self.end

    def branch_to(self, target: int, source: int) -> None:
        if self.inside(target):
            self.p.labels.add(target)
            self.work.append((target, source))
        else:
            self.p.external.setdefault(target, []).append(source)

    def error(self, addr: int, raw: bytes, msg: str, source: Optional[int]) -> None:
        self.p.errors.append(WalkError(addr, addr - self.base, raw, msg, source))

    def run(self, entries: Iterable[int]) -> Program:
        for e in entries:
            a = e if (self.base and e >= self.base) else self.base + e
            self.p.entries.append(a)
            if self.inside(a):
                self.p.labels.add(a)
                self.work.append((a, None))
            else:
                self.p.external.setdefault(a, []).append(-1)
        while self.work:
            a, src = self.work.pop()
            self.path(a, src)
        return self.finish()

    def path(self, a: int, src: Optional[int]) -> None:
        p = self.p
        state = self.state
        base = self.base
        end = self.end
        at = self.dec.at
        insns = p.insns
        pred = self.pred
        prev = None
        while True:
            if not base <= a < end:
                if prev is not None:  # fell off the end of the buffer
                    self.error(a, b"", "execution runs past the end of the code", prev)
                return
            off = a - base
            st = state[off]
            if st == 1:
                if prev is not None:
                    pred.setdefault(a, prev)
                return
            if st == 2:
                self.error(a, b"", "branch into the middle of an instruction", src if prev is None else prev)
                return
            try:
                insn = at(a)
            except DecodeError as e:
                self.error(a, e.raw, e.message, src if prev is None else prev)
                return
            raw = insn.raw
            n = len(raw)
            if n > 1 and state.count(0, off + 1, off + n) != n - 1:
                self.error(a, raw, "instruction overlaps decoded code", src if prev is None else prev)
                return
            state[off] = 1
            if n > 1:
                state[off + 1:off + n] = _TAILS[n]
            insns[a] = insn
            if prev is not None:
                pred[a] = prev
            for op in insn.ops:
                t = type(op)
                if t is Mem:
                    if op.rip and base <= op.disp < end:
                        p.data_refs.add(op.disp)
                elif t is Imm and op.bits == 64 and base <= op.value < end:
                    p.data_refs.add(op.value)
            flow = insn.flow
            if flow == "next":
                if insn.mnemonic in _STOP_MNEMONICS:
                    return
            elif flow == "conditional_branch" or flow == "xbegin_xabort_xend":
                if insn.target is not None:
                    self.branch_to(insn.target, a)
            elif flow == "call":
                self.branch_to(insn.target, a)
            elif flow == "indirect_call":
                p.indirect_calls.add(a)
            elif flow == "unconditional_branch":
                self.branch_to(insn.target, a)
                return
            elif flow == "indirect_branch":
                jt = self.resolve(insn)
                p.indirect[a] = jt
                if jt is not None:
                    for t in jt.targets:
                        self.branch_to(t, a)
                return
            elif flow in _STOP_FLOWS:
                return
            prev = a
            a += n

    # -- jump tables ----------------------------------------------------------------------
    def back(self, a: int, limit: int = 24):
        """Instructions before ``a`` on its straight-line (fallthrough) run, nearest first."""
        out = []
        cur = self.pred.get(a)
        while cur is not None and len(out) < limit:
            out.append(self.p.insns[cur])
            if cur in self.p.labels:
                break
            cur = self.pred.get(cur)
        return out

    def reg_value(self, hist: list[Insn], reg: int) -> Optional[int]:
        """Find the label address that ``reg`` holds (lea rip / mov imm64) in ``hist``."""
        for i in hist:
            if _writes_reg(i, reg):
                if i.mnemonic in ("lea", "mov") and len(i.ops) == 2 and isinstance(i.ops[0], Gpr) \
                        and i.ops[0].bits == 64:
                    s = i.ops[1]
                    if i.mnemonic == "lea" and isinstance(s, Mem) and s.rip:
                        return s.disp
                    if i.mnemonic == "mov" and isinstance(s, Imm) and s.bits in (32, 64):
                        return s.value & 0xFFFFFFFFFFFFFFFF
                return None
        return None

    def read_abs64(self, table: int) -> list[int]:
        out = []
        t = table
        lim = self.end          # a table cannot run into code that it points at
        while t + 8 <= min(self.end, lim) and len(out) < _MAX_TABLE:
            if out and t in self.p.data_refs:
                break
            (v,) = struct.unpack_from("<Q", self.code, t - self.base)
            if not self.inside(v) or table <= v < t + 8:
                break
            if v > t:
                lim = min(lim, v)
            out.append(v)
            t += 8
        return out

    def read_rel32(self, table: int) -> list[int]:
        out = []
        t = table
        lim = self.end
        while t + 4 <= min(self.end, lim) and len(out) < _MAX_TABLE:
            if out and t in self.p.data_refs:
                break
            (v,) = struct.unpack_from("<i", self.code, t - self.base)
            tgt = table + v
            if not self.inside(tgt) or (table <= tgt < t + 4):
                break
            if tgt > t:
                lim = min(lim, tgt)
            out.append(tgt)
            t += 4
        return out

    def resolve(self, insn: Insn) -> Optional[JumpTable]:
        if not insn.ops:
            return None
        op = insn.ops[0]
        hist = self.back(insn.address)
        if isinstance(op, Mem) and not op.rip and isinstance(op.base, Gpr) and op.size == 8:
            base_val = self.reg_value(hist, op.base.index)
            if op.index is None and base_val is None:
                # lea r, [r2 + idx*8 + d]; jmp qword [r]   with r2 = table label
                k = next((k for k, i in enumerate(hist) if _writes_reg(i, op.base.index)), None)
                if k is None:
                    return None
                d = hist[k]
                if d.mnemonic != "lea" or not isinstance(d.ops[1], Mem):
                    return None
                m = d.ops[1]
                if not isinstance(m.base, Gpr) or not isinstance(m.index, Gpr) or m.scale != 8:
                    return None
                tb = self.reg_value(hist[k + 1:], m.base.index)
                if tb is None:
                    return None
                table = (tb + m.disp + op.disp) & 0xFFFFFFFFFFFFFFFF
                if not self.inside(table):
                    return None
                targets = self.read_abs64(table)
                if not targets:
                    self.p.foreign_tables[insn.address] = table
                    return None
                self.p.data_refs.add(table)
                return JumpTable(insn.address, table, "abs64", targets, m.index)
            if base_val is None:
                return None
            if op.index is None:
                t = base_val + op.disp
                if self.inside(t) and t + 8 <= self.end:
                    (v,) = struct.unpack_from("<Q", self.code, t - self.base)
                    if self.inside(v):
                        self.p.data_refs.add(t)
                        return JumpTable(insn.address, t, "abs64", [v])
                return None
            if op.scale != 8 or not isinstance(op.index, Gpr):
                return None
            table = base_val + op.disp
            if not self.inside(table):
                return None
            targets = self.read_abs64(table)
            if not targets:
                self.p.foreign_tables[insn.address] = table
                return None
            self.p.data_refs.add(table)
            return JumpTable(insn.address, table, "abs64", targets, op.index)
        if isinstance(op, Gpr) and op.bits == 64:
            # jmp t  <- add t, r  <- movsxd t, dword [r + idx*4]   (r = table)
            reg = op.index
            for k, i in enumerate(hist):
                if not _writes_reg(i, reg):
                    continue
                if i.mnemonic == "add" and len(i.ops) == 2 and isinstance(i.ops[1], Gpr):
                    r = i.ops[1].index
                    rest = hist[k + 1:]
                    for j, i2 in enumerate(rest):
                        if _writes_reg(i2, reg):
                            if i2.mnemonic == "movsxd" and isinstance(i2.ops[1], Mem):
                                m = i2.ops[1]
                                if isinstance(m.base, Gpr) and m.base.index == r and m.scale == 4 \
                                        and isinstance(m.index, Gpr):
                                    table = self.reg_value(rest[j + 1:], r) if not any(
                                        _writes_reg(x, r) for x in rest[:j]) else None
                                    if table is None:
                                        table = self.reg_value(rest, r)
                                    # entries are relative to the register added later; with
                                    # a displacement the slots are elsewhere: left unresolved
                                    if table is not None and self.inside(table) and m.disp == 0:
                                        targets = self.read_rel32(table + m.disp)
                                        if targets:
                                            self.p.data_refs.add(table)
                                            return JumpTable(insn.address, table + m.disp, "rel32",
                                                             targets, m.index)
                            return None
                    return None
                if i.mnemonic in ("lea", "mov"):
                    v = self.reg_value([i], reg)
                    if v is not None and self.inside(v):
                        return JumpTable(insn.address, v, "single", [v])
                return None
        return None

    # -- result ---------------------------------------------------------------------------
    def finish(self) -> Program:
        p = self.p
        p.insns = dict(sorted(p.insns.items()))
        state = self.state
        start = None
        for off, st in enumerate(state):
            if st == 0:
                if start is None:
                    start = off
            elif start is not None:
                p.data.append((self.base + start, self.base + off))
                start = None
        if start is not None:
            p.data.append((self.base + start, self.base + len(state)))
        return p


def infer_base(code: bytes, entries: Iterable[int] = (0,), page: int = 0x1000) -> Optional[int]:
    """Guess the load address of a dump that embeds absolute addresses of its own labels
    (Xbyak ``mov r64, label`` and ``putL`` jump tables), assuming a ``page``-aligned buffer.

    Candidates are page-aligned bases that put an embedded absolute value inside the buffer.
    Each is scored over all values: a ``mov r64, imm64`` that lands on unreached bytes at a
    16-byte-aligned offset (Xbyak aligns its constant tables) scores 2, on an instruction start 1;
    an entry of a jump table scores 1; any value landing inside an instruction disqualifies the
    base. Returns None when nothing scores at least 2 (e.g. the kernel embeds no self address, in
    which case the base does not matter).
    """
    code = bytes(code)
    n = len(code)
    entries = tuple(entries)
    p0 = walk(code, 0, entries)
    # translate() walks the same code at the base this returns; when that is 0 (or None: no self
    # address), it gets this walk (once) instead of a second identical one
    global _LAST_WALK
    _LAST_WALK = (code, entries, p0)
    starts = set(p0.insns)
    tails = set()
    for a, i in p0.insns.items():
        tails.update(range(a + 1, a + i.length))
    vals: dict[int, str] = {}
    for i in p0.insns.values():
        for op in i.ops:
            if isinstance(op, Imm) and op.bits == 64 and op.value >= page:
                vals[op.value] = "imm"
    for t in p0.foreign_tables.values():
        first = None
        for off in range(t, min(n - 7, t + 8 * 256), 8):
            (v,) = struct.unpack_from("<Q", code, off)
            if first is None:
                first = v
            elif abs(v - first) > n:
                break
            if v >= page:
                vals.setdefault(v, "tab")
    scores: dict[int, int] = {}
    for v in vals:
        top = v - (v % page)
        for k in range(0, n // page + 1):
            b = top - k * page
            if b < 0 or not (b <= v < b + n) or b in scores:
                continue
            sc = 0
            for w, kind in vals.items():
                off = w - b
                if 0 <= off < n:
                    if off in tails:
                        sc = -1
                        break
                    if kind == "tab" or off in starts:
                        sc += 1
                    elif off % 16 == 0:
                        sc += 2
            scores[b] = sc
    if not scores:
        return None
    best = max(scores.values())
    if best < 2:
        return None
    return max(b for b, s in scores.items() if s == best)


_LAST_WALK = None       # (code, entries, Program at base 0) from the latest infer_base


def walk(code: bytes, base: int = 0, entries: Iterable[int] = (0,)) -> Program:
    """Decode what control flow reaches from ``entries`` (offsets into ``code``)."""
    global _LAST_WALK
    entries = tuple(entries)
    last = _LAST_WALK
    if last is not None:
        _LAST_WALK = None       # handed out at most once: the caller may change its Program
        if base == 0 and last[0] is code and last[1] == entries:
            return last[2]
    with gc_paused():
        return _Walker(code, base).run(entries)


def linear(code: bytes, base: int = 0) -> Program:
    """Sweep ``code`` front to back. An undecodable byte is recorded in ``errors``, kept as data,
    and the sweep resumes at the next byte."""
    with gc_paused():
        return _linear(code, base)


def _linear(code: bytes, base: int) -> Program:
    w = _Walker(code, base)
    p = w.p
    p.entries.append(base)
    a = base
    end = w.end
    dec = w.dec
    state = w.state
    while a < end:
        try:
            insn = dec.at(a)
        except DecodeError as e:
            w.error(a, e.raw, e.message, None)
            a += 1
            continue
        off = a - base
        state[off] = 1
        for k in range(off + 1, off + insn.length):
            state[k] = 2
        p.insns[a] = insn
        for r in _ref_addresses(insn):
            if w.inside(r):
                p.data_refs.add(r)
        if insn.target is not None:
            if w.inside(insn.target):
                p.labels.add(insn.target)
            else:
                p.external.setdefault(insn.target, []).append(a)
        if insn.flow == "indirect_branch":
            p.indirect[a] = None
        elif insn.flow == "indirect_call":
            p.indirect_calls.add(a)
        a = insn.next_address
    return w.finish()
