"""``CodeGenerator``: write x86-64 the Xbyak way, get SVE.

Each mnemonic call is encoded at once (iced-x86, see ``emitter.py``) at its final address, and
(with ``strict=True``) lowered on its own by the translator so that an instruction without an
SVE lowering fails *at the call*, naming the caller's ``file:line``. Branches to labels not yet
defined are re-encoded when the code is requested. The whole buffer then goes through
``translator.translate`` (flow walk, flag liveness, register map, label relocation, optional
AAPCS64 wrapper) — the same path as ``x2sve translate --base``.

Hand-written SVE regions
------------------------
``with gen.sve_region(): ...`` brackets a stretch of the x86 stream with two markers, each a
two-byte ``jmp $+2`` (``eb 00``): harmless when the x86 code runs natively, and each one makes the
translator put a label right behind it. Between the markers the caller may emit x86 (what a
native run executes, e.g. to compare against) and ``gen.sve(line, ...)`` lines (what the SVE
side executes instead). After translation everything between the two labels is replaced by the
``sve`` lines (see ``_apply_regions``); x86 instructions inside a region need not be translatable.
Hand-written SVE may use the register map of ``translator.lower.regmap`` (zmmN = zN, rdi = x0 ...,
p0 all-true, x16/x17/x19-x24 free temporaries); it must leave x28/x29/x30/sp alone, and the x86
flags (NZCV) are undefined after the region.
"""
from __future__ import annotations

import bisect
import os
import struct
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import emitter as _em
from .emitter import EncodeProblem
from .operands import (REGISTERS, Address, AddressFrame, Label, T_AUTO, T_NEAR, T_SHORT, T_rd_sae,
                       T_rn_sae, T_ru_sae, T_rz_sae, T_sae, T_z, byte, dword, ptr, ptr_b, qword,
                       tword, word, xword, xword_b, yword, yword_b, zword, zword_b)

__all__ = ["CodeGenerator", "JitError", "JitUnsupported", "Emitted", "DEFAULT_BASE"]

DEFAULT_BASE = 0x10000
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_MARKER = b"\xeb\x00"                     # jmp $+2: region boundary
# Intel's recommended multi-byte NOPs (1..9 bytes), for align()
_NOPS = [b"", b"\x90", b"\x66\x90", b"\x0f\x1f\x00", b"\x0f\x1f\x40\x00", b"\x0f\x1f\x44\x00\x00",
         b"\x66\x0f\x1f\x44\x00\x00", b"\x0f\x1f\x80\x00\x00\x00\x00",
         b"\x0f\x1f\x84\x00\x00\x00\x00\x00", b"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00"]


class JitError(Exception):
    """A generator call that cannot be honoured; ``where`` is the caller's ``file:line``."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class JitUnsupported(JitError):
    """The instruction encodes, but the translator has no SVE lowering for it (this shape)."""

    def __init__(self, where: str, text: str, reason: str, more: list | None = None):
        self.text = text
        self.reason = reason
        self.more = more or []
        extra = "".join(f"\n  {w}: {t}: {r}" for w, t, r in self.more)
        super().__init__(where, f"{text}: no SVE translation: {reason}" + extra)


@dataclass
class Emitted:
    """What the hook receives for each emitted instruction."""
    index: int                   # running number of the instruction in this generator
    address: int                 # x86 address (base + offset)
    x86: bytes                   # its encoding (forward branches: against a placeholder target)
    text: str                    # Intel syntax
    mnemonic: str
    operands: tuple              # the caller's operands, as passed
    where: str                   # the caller's file:line
    sve: Optional[list]          # SVE lines of the stand-alone lowering (None: not lowered)
    reason: Optional[str] = None # why it could not be lowered (None: it could)
    in_region: bool = False      # inside a hand-written SVE region


@dataclass
class _Item:
    addr: int
    raw: bytes
    kind: str                    # insn | data | align | marker
    where: str = ""
    text: str = ""
    built: object = None         # emitter.Built for instructions
    region: Optional[int] = None


@dataclass
class _Region:
    begin: int                   # address of the opening marker
    end: int = -1                # address of the closing marker
    lines: list = field(default_factory=list)
    where: str = ""


def _call_site() -> str:
    """The first caller frame outside this package (and contextlib, for ``with`` blocks)."""
    f = sys._getframe(1)
    while f is not None and (os.path.dirname(os.path.abspath(f.f_code.co_filename)) == _PKG_DIR
                             or os.path.basename(f.f_code.co_filename) == "contextlib.py"):
        f = f.f_back
    if f is None:
        return ""
    return f"{f.f_code.co_filename}:{f.f_lineno}"


_CC_ALIAS = {"z": "e", "nz": "ne", "c": "b", "nc": "ae", "nae": "b", "nb": "ae", "na": "be",
             "nbe": "a", "nge": "l", "nl": "ge", "ng": "le", "nle": "g", "pe": "p", "po": "np"}
ALIASES = {p + a: p + c for p in ("j", "cmov", "set") for a, c in _CC_ALIAS.items()}
_BRANCHES = {"jmp", "call", "loop", "loope", "loopne", "jrcxz", "jecxz"} | {
    "j" + c for c in ("a", "ae", "b", "be", "e", "ne", "g", "ge", "l", "le", "o", "no", "s", "ns", "p", "np")}


def _fake_label(a: int) -> str:
    return f".Ljit_{a & 0xFFFFFFFFFFFFFFFF:x}"


class CodeGenerator:
    """Xbyak-style x86-64 generator whose output is translated to SVE.

    ``CodeGenerator(maxSize=..., base=0x10000, vl=512, strict=True, hook=None, tables=None)``. ``base`` is the
    address the x86 code is laid out at (labels, ``mov(reg, label)``, rip-relative data);
    ``strict`` makes every call check at once that the translator can lower it; ``hook(Emitted)``
    is called per instruction and may return SVE lines (a str or list of str) to use instead of
    the instruction's translation.
    """
    # Xbyak's operand spellings as attributes as well as module constants
    Label = Label
    ptr, ptr_b, byte, word, dword, qword, tword = ptr, ptr_b, byte, word, dword, qword, tword
    xword, yword, zword, xword_b, yword_b, zword_b = xword, yword, zword, xword_b, yword_b, zword_b
    T_z, T_sae, T_rn_sae, T_rd_sae, T_ru_sae, T_rz_sae = T_z, T_sae, T_rn_sae, T_rd_sae, T_ru_sae, T_rz_sae
    T_NEAR, T_SHORT, T_AUTO = T_NEAR, T_SHORT, T_AUTO

    def __init__(self, maxSize: int = 1 << 20, userPtr=None, *, base: int = DEFAULT_BASE,  # noqa: N803
                 vl: int = 512, strict: bool = True, hook: Optional[Callable] = None,
                 nan_mode: str = "exact", tables=None):
        self._base = base
        self.tables = tables                 # mapping tables (None: the default ones)
        self._max = maxSize
        self.vl = vl
        self.strict = strict
        self.hook = hook
        self.nan_mode = nan_mode
        self._items: list[_Item] = []
        self._addrs: list[int] = []
        self._pos = base
        self._named: dict[str, Label] = {}
        self._label_where: dict[int, str] = {}
        self._uses: list[tuple[int, str]] = []      # (item index, where) referring to a label
        self._regions: list[_Region] = []
        self._region: Optional[_Region] = None
        self._count = 0
        self._check_cache: dict = {}
        self._tr_cache: dict = {}

    # ---- mnemonics (method-missing hook) ---------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        mnem = name[:-1] if name.endswith("_") else name
        mnem = ALIASES.get(mnem, mnem)
        if _em.known_mnemonic(mnem):
            def method(*args):
                return self._emit(mnem, args, _call_site())
            method.__name__ = name
            return method
        raise AttributeError(f"{type(self).__name__} has no attribute or x86 mnemonic {name!r}")

    # ---- layout helpers --------------------------------------------------------------------
    @property
    def base(self) -> int:
        return self._base

    def getCurr(self) -> int:            # noqa: N802 (Xbyak spelling)
        """The address the next byte goes to."""
        return self._pos

    def getSize(self) -> int:            # noqa: N802
        return self._pos - self._base

    def _append(self, item: _Item) -> None:
        if item.addr + len(item.raw) - self._base > self._max:
            raise JitError(item.where, f"code size exceeds maxSize ({self._max} bytes)")
        item.region = None if self._region is None else len(self._regions)
        self._items.append(item)
        self._addrs.append(item.addr)
        self._pos = item.addr + len(item.raw)
        self._tr_cache.clear()

    def _label_addr(self, lab) -> Optional[int]:
        if isinstance(lab, str):
            lab = self._named.get(lab)
            if lab is None:
                return None
        if lab.gen is not None and lab.gen is not self:
            raise EncodeProblem(f"{lab!r} belongs to another generator")
        return lab.address

    def _resolve_label_args(self, args: tuple) -> tuple:
        out = []
        for a in args:
            if isinstance(a, str):
                lab = self._named.get(a)
                if lab is None:
                    lab = self._named[a] = Label(a)
                a = lab
            out.append(a)
        return tuple(out)

    # ---- instructions ----------------------------------------------------------------------
    def _emit(self, mnem: str, args: tuple, where: str):
        if mnem in _BRANCHES:
            args = self._resolve_label_args(args)
        elif mnem == "mov":
            args = args[:1] + self._resolve_label_args(args[1:])
        try:
            ops, deco = _em.split_operands(args)
            built = _em.build(mnem, ops, deco, self._pos, self._label_addr)
        except EncodeProblem as ex:
            raise JitError(where, f"{mnem}({', '.join(map(repr, args))}): {ex}") from None
        text = _em.format_insn(built.raw, self._pos)
        in_region = self._region is not None
        sve, reason = None, None
        if in_region:
            pass
        elif built.label_use == "imm64":
            # mov r64, label: translate relocates it to `adr` (its relocate_label_address hatch)
            from ..lower.regmap import RegMap
            sve = [f"adr x{RegMap.x_of(ops[0].idx)}, {_fake_label(built.label.address or self._pos)}"]
        else:
            sve, reason = self._lower(built.raw, self._pos, built.label is not None)
        override = None
        if self.hook is not None:
            ev = Emitted(self._count, self._pos, built.raw, text, mnem, args, where, sve, reason, in_region)
            override = self.hook(ev)
        self._count += 1
        if override is not None and not in_region:
            lines = [override] if isinstance(override, str) else list(override)
            with self._open_region(where):
                self._region.lines += lines
                built = _em.build(mnem, ops, deco, self._pos, self._label_addr)
                self._add_insn(built, mnem, where)
            return built
        if reason is not None and self.strict:
            raise JitUnsupported(where, text, reason)
        self._add_insn(built, mnem, where)
        return built

    def _add_insn(self, built, mnem: str, where: str) -> None:
        text = _em.format_insn(built.raw, self._pos)
        self._append(_Item(self._pos, built.raw, "insn", where, text, built))
        if built.label is not None:
            self._uses.append((len(self._items) - 1, where))

    def _lower(self, raw: bytes, addr: int, label_dep: bool):
        """Stand-alone lowering of one instruction: (sve lines, None) or (None, reason)."""
        key = (raw, addr) if label_dep else raw
        got = self._check_cache.get(key)
        if got is None:
            got = _lower_one(raw, addr, self.vl, self.nan_mode, self.tables)
            self._check_cache[key] = got
        return got

    # ---- labels -----------------------------------------------------------------------------
    def L(self, label) -> Label:         # noqa: N802 (Xbyak spelling)
        """Define ``label`` (a ``Label`` or a name) at the current address."""
        where = _call_site()
        if isinstance(label, str):
            lab = self._named.get(label)
            if lab is None:
                lab = self._named[label] = Label(label)
            label = lab
        if not isinstance(label, Label):
            raise JitError(where, f"L({label!r}): not a Label")
        if label.address is not None:
            raise JitError(where, f"{label!r} is already defined at {self._label_where.get(label.id, '?')}")
        label.gen = self
        label.address = self._pos
        self._label_where[label.id] = where
        return label

    def inLocalLabel(self) -> None:      # noqa: N802 - accepted for source compatibility
        pass

    def outLocalLabel(self) -> None:     # noqa: N802
        pass

    # ---- data and alignment ------------------------------------------------------------------
    def align(self, n: int = 16, useMultiByteNop: bool = True) -> None:   # noqa: N803
        where = _call_site()
        if n <= 0 or n & (n - 1):
            raise JitError(where, f"align({n}): not a power of two")
        pad = (-self._pos) % n
        while pad:
            k = min(pad, 9 if useMultiByteNop else 1)
            self._append(_Item(self._pos, _NOPS[k], "align", where, "nop"))
            pad -= k

    def _data(self, fmt: str, size: int, values, count: int, where: str) -> None:
        if isinstance(values, (bytes, bytearray)):
            raw = bytes(values)
        else:
            vals = list(values) if isinstance(values, (list, tuple)) or hasattr(values, "__iter__") else [values]
            out = bytearray()
            for v in vals:
                if isinstance(v, float) or type(v).__name__.startswith("float"):
                    if size not in (2, 4, 8):
                        raise JitError(where, f"a float does not fit a {size}-byte item")
                    out += struct.pack({2: "<e", 4: "<f", 8: "<d"}[size], float(v))
                else:
                    v = int(v)
                    if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
                        raise JitError(where, f"{v:#x} does not fit {size} bytes")
                    out += (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            raw = bytes(out)
        raw = raw * count
        if raw:
            self._append(_Item(self._pos, raw, "data", where, f"{fmt} {raw[:16].hex()}"))

    def db(self, v, n: int = 1) -> None:
        """Bytes: an int, a sequence of ints, or bytes (repeated ``n`` times)."""
        self._data("db", 1, v, n, _call_site())

    def dw(self, v, n: int = 1) -> None:
        self._data("dw", 2, v, n, _call_site())

    def dd(self, v, n: int = 1) -> None:
        """32-bit items: ints (two's complement) or floats (IEEE single)."""
        self._data("dd", 4, v, n, _call_site())

    def dq(self, v, n: int = 1) -> None:
        """64-bit items: ints or floats (IEEE double)."""
        self._data("dq", 8, v, n, _call_site())

    # ---- hand-written SVE ------------------------------------------------------------------
    @contextmanager
    def sve_region(self):
        """Emit hand-written SVE (``gen.sve(...)``) for this stretch; x86 emitted inside is
        what a native x86 run executes and is replaced on the SVE side."""
        where = _call_site()
        with self._open_region(where) as r:
            yield r

    @contextmanager
    def _open_region(self, where: str):
        if self._region is not None:
            raise JitError(where, "sve regions do not nest")
        if self.strict:
            _, reason = self._lower(_MARKER, self._pos, True)
            if reason is not None:
                raise JitError(where, f"sve_region needs the translator to lower `jmp`: {reason}")
        reg = _Region(self._pos, where=where)
        self._append(_Item(self._pos, _MARKER, "marker", where, "jmp $+2  // sve region begin"))
        self._region = reg
        try:
            yield reg
        finally:
            self._region = None
            reg.end = self._pos
            self._regions.append(reg)
            self._append(_Item(self._pos, _MARKER, "marker", where, "jmp $+2  // sve region end"))
            self._items[-1].region = len(self._regions) - 1
        _check_sve(reg.lines, where)

    def sve(self, *lines: str) -> None:
        """Append hand-written A64/SVE lines (GNU as syntax) to the open ``sve_region``."""
        where = _call_site()
        if self._region is None:
            raise JitError(where, "sve() outside `with gen.sve_region():`")
        for l in lines:
            for part in str(l).splitlines():
                if part.strip():
                    self._region.lines.append(part.strip())
        self._tr_cache.clear()

    # ---- results ---------------------------------------------------------------------------
    def call_site(self, address: int) -> str:
        """The ``file:line`` of the call that emitted the byte at ``address``."""
        i = bisect.bisect_right(self._addrs, address) - 1
        if 0 <= i < len(self._items):
            it = self._items[i]
            if it.addr <= address < it.addr + max(1, len(it.raw)):
                return it.where
        return ""

    def x86_code(self) -> bytes:
        """The x86-64 bytes, all labels resolved (they run at ``base``)."""
        undefined = []
        for idx, where in self._uses:
            it = self._items[idx]
            b = it.built
            if b.label.address is None:
                undefined.append((where, b.label))
                continue
            ins = b.instr
            tgt = (b.label.address + b.label_disp) & 0xFFFFFFFFFFFFFFFF
            if b.label_use == "branch":
                ins.near_branch64 = tgt
            elif b.label_use == "imm64":
                ins.set_immediate_u64(1, tgt)
            else:
                ins.memory_displacement = tgt
            try:
                raw = _em.encode(ins, it.addr)
            except ValueError as ex:
                raise JitError(where, f"{it.text}: cannot reach {b.label!r}: {ex}") from None
            if len(raw) != len(it.raw):
                raise JitError(where, f"internal: {it.text} changed size when its label was resolved")
            it.raw = raw
            it.text = _em.format_insn(raw, it.addr)
        if undefined:
            w, lab = undefined[0]
            raise JitError(w, f"{lab!r} is used but never defined with L()")
        return b"".join(it.raw for it in self._items)

    getCode = x86_code                   # noqa: N815 (Xbyak-ish spelling)

    def translate(self, symbol: Optional[str] = None, allow_unsupported: bool = False):
        """Translate the whole buffer (``translator.translate`` at ``base``); cached."""
        key = (symbol, allow_unsupported)
        if key in self._tr_cache:
            return self._tr_cache[key]
        from .. import translate as _translate_mod   # noqa: F401
        from ..translate import TranslateError, UnsupportedError, translate
        code = self.x86_code()
        if not code:
            raise JitError("", "nothing was generated")
        regions = [r for r in self._regions]
        try:
            t = translate(code, vl=self.vl, base=self._base, symbol=symbol, nan_mode=self.nan_mode,
                          tables=self.tables,
                          allow_unsupported=allow_unsupported or bool(regions))
        except UnsupportedError as ex:
            raise self._unsupported(ex.items) from None
        except TranslateError as ex:
            raise JitError("", f"translation failed: {ex}") from None
        if regions:
            inside = [u for u in t.unsupported if not any(r.begin < u[0] < r.end for r in regions)]
            if inside and not allow_unsupported:
                raise self._unsupported(inside)
            t = _apply_regions(t, regions)
        self._tr_cache[key] = t
        return t

    def _unsupported(self, items) -> JitUnsupported:
        rows = [(self.call_site(a), text, reason) for a, raw, text, reason in items]
        w, text, reason = rows[0]
        return JitUnsupported(w, text, reason, rows[1:])

    def arm_code(self, symbol: Optional[str] = None) -> bytes:
        """A64 machine code; with ``symbol`` an AAPCS64 function (entry at offset 0)."""
        return self.translate(symbol).arm_code

    def asm(self, symbol: Optional[str] = None) -> str:
        """GNU-as source; with ``symbol`` a global function callable from C."""
        return self.translate(symbol).asm()

    def listing(self, symbol: Optional[str] = None) -> str:
        return self.translate(symbol).listing()

    @property
    def stats(self) -> dict:
        return self.translate().stats

    def ready(self) -> None:             # Xbyak spelling: resolve labels now
        self.x86_code()


# registers as CodeGenerator attributes (self.rax ...)
for _n, _r in REGISTERS.items():
    setattr(CodeGenerator, _n, _r)


# ---------------------------------------------------------------------------------------------
def _lower_one(raw: bytes, addr: int, vl: int, nan_mode: str, tables=None):
    from ..decode import DecodeError, decode_one
    from ..lower import Unsupported, lower_snippet
    try:
        insn = decode_one(raw, addr)
    except DecodeError as ex:
        return None, f"does not decode: {ex}"
    try:
        snip = lower_snippet(insn, vl=vl, nan_mode=nan_mode, tables=tables, flags_live_out=frozenset(),
                             label_of=_fake_label, outline=True)
    except Unsupported as ex:
        return None, ex.reason
    except Exception as ex:                 # register-model or addressing limits
        return None, f"{type(ex).__name__}: {ex}"
    return list(snip.body) + list(snip.outlined), None


def _check_sve(lines: list[str], where: str) -> None:
    from ..encode import EncodeError, assemble
    try:
        assemble(list(lines))
    except EncodeError as ex:
        raise JitError(where, f"hand-written SVE does not assemble: {ex}") from None


def _apply_regions(t, regions: list[_Region]):
    """Emulation of a translate-side hook: replace each region's translated lines (between the
    labels that the two ``jmp $+2`` markers create) with its hand-written SVE."""
    from ..encode import EncodeError, assemble
    lines = t.asm().splitlines()
    for r in regions:
        beg = f".L_{r.begin + 2:x}:"
        end = f".L_{r.end + 2:x}:"
        try:
            i = lines.index(beg)
            j = lines.index(end, i)
        except ValueError:
            raise JitError(r.where, "sve region markers were not found in the translation "
                                    "(is the region reachable?)") from None
        if i > 0 and lines[i - 1] == f"b .L_{r.begin + 2:x}":
            del lines[i - 1]
            i -= 1
            j -= 1
        kept = [l for l in lines[i + 1:j] if l.endswith(":")]     # labels others may name
        lines[i + 1:j] = [f"// sve region {os.path.basename(r.where)}"] + list(r.lines) + kept
    try:
        code = assemble(lines)
    except EncodeError as ex:
        raise JitError(regions[0].where, f"hand-written SVE does not assemble in place: {ex}") from None
    t.arm_code = code
    t._asm_lines = lines
    return t
