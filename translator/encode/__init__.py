"""Our own A64 + SVE assembler, driven by the declarative table in ``a64.spec``.

Public API::

    assemble(lines, base=0) -> bytes          # GNU-as syntax, labels, a few directives
    encode_line(text, pc=0, labels=None) -> int
    EncodeError                               # one-line message: the offending line and why

Numeric branch/adr operands (``b #16``) are byte offsets from the instruction (llvm-mc
convention); use labels for absolute targets.
"""
from __future__ import annotations

import re
import struct

from .immediates import EncodeError
from .spec import _CheckFailed, _Mismatch, encode_form, load_spec, tokenize

__all__ = ["assemble", "encode_line", "EncodeError", "forms", "clear_cache"]

_CACHE: dict = {}
_CACHE_MAX = 1 << 18
_LABEL_RE = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:(?!:)")


def clear_cache() -> None:
    """Forget every memoised encoding (instruction text -> word, source line -> bytes)."""
    _CACHE.clear()
    _LINES.clear()


def forms():
    """All instruction forms: {mnemonic: [Form, ...]}."""
    return load_spec().forms


def _strip(text: str) -> str:
    i = text.find("//")
    if i >= 0:
        text = text[:i]
    return text.strip()


def _encode(text: str, pc: int, labels):
    """Encode one stripped instruction; returns (word, cacheable)."""
    parts = text.split(None, 1)
    mnem = parts[0].lower()
    spec = load_spec()
    flist = spec.forms.get(mnem)
    if flist is None:
        raise EncodeError(f"unknown mnemonic {parts[0]!r}")
    toks = tokenize(parts[1]) if len(parts) > 1 else []
    n = len(toks)
    best = None  # (rank, msg); later forms win ties
    for f in flist:
        if f.ntok != n:
            continue
        try:
            return encode_form(f, toks, pc, labels), not f.pcrel
        except _Mismatch as e:
            rank = (1 if "not allowed here" in str(e) else 0, e.pos)
            if best is None or rank > best[0]:
                best = (rank, str(e))
        except _CheckFailed as e:
            if best is None or (2, 0) >= best[0]:
                best = ((2, 0), str(e))
        except EncodeError as e:
            if best is None or (3, 0) >= best[0]:
                best = ((3, 0), str(e))
    if best is None:
        raise EncodeError(f"no form of {mnem!r} takes {n} operand tokens")
    if best[0][0] < 2:
        raise EncodeError(f"no form of {mnem!r} accepts these operands ({best[1]})")
    raise EncodeError(best[1])


def encode_line(text: str, pc: int = 0, labels: dict | None = None) -> int:
    """Encode a single instruction line (GNU-as syntax) to its 32-bit word."""
    w = _CACHE.get(text)
    if w is not None:
        return w
    s = _strip(text)
    try:
        if s.startswith(".inst") or s.startswith(".word"):
            vals = _ints(s.split(None, 1)[1] if " " in s else "", 32)
            if len(vals) != 1:
                raise EncodeError("expected one value")
            return vals[0]
        w, cacheable = _encode(s, pc, labels)
    except EncodeError as e:
        raise EncodeError(f"{text.strip()!r}: {e}") from None
    if cacheable:
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.clear()
        _CACHE[text] = w
    return w


def _ints(arg: str, bits: int):
    out = []
    for a in arg.split(","):
        a = a.strip()
        if not a:
            raise EncodeError("missing value")
        try:
            v = int(a, 0)
        except ValueError:
            raise EncodeError(f"bad number {a!r}") from None
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise EncodeError(f"value {a} does not fit {bits} bits")
        out.append(v & ((1 << bits) - 1))
    return out


_DIRECTIVE_BITS = {".word": 32, ".inst": 32, ".4byte": 32, ".long": 32, ".byte": 8,
                   ".hword": 16, ".short": 16, ".2byte": 16, ".quad": 64, ".xword": 64,
                   ".8byte": 64}
_IGNORED = {".text", ".globl", ".global", ".type", ".size", ".section", ".arch", ".p2align_",
            ".cpu", ".arch_extension", ".local", ".hidden"}


def _items(lines):
    """Split source lines into (kind, payload, original) items; labels separated."""
    for raw in lines:
        s = _strip(raw)
        while True:
            m = _LABEL_RE.match(s)
            if not m:
                break
            yield ("label", m.group(1), raw)
            s = s[m.end():].strip()
        if not s:
            continue
        for stmt in s.split(";"):
            stmt = stmt.strip()
            if stmt:
                yield ("stmt", stmt, raw)


_LINES: dict = {}          # source line -> compiled form (see _compile_line)
_LINES_MAX = 1 << 18
_PACK = struct.Struct("<I").pack
_NOP = struct.pack("<I", 0xD503201F)


def _compile_stmt(s: str):
    """One instruction statement -> its 4 bytes when they depend on neither the address nor the
    labels, else ("fix", stmt, form, toks): encoded once addresses are known (form/toks, when
    not None, is the pc-relative form the full search would try first)."""
    w = _CACHE.get(s)
    if w is not None:
        return _PACK(w)
    parts = s.split(None, 1)
    flist = load_spec().forms.get(parts[0].lower())
    if flist is None:
        return ("fix", s, None, None)
    try:
        toks = tokenize(parts[1]) if len(parts) > 1 else []
    except EncodeError:
        return ("fix", s, None, None)
    n = len(toks)
    for f in flist:
        if f.ntok != n:
            continue
        if f.pcrel:           # needs pc/labels: everything before it failed independently of them
            return ("fix", s, f, toks)
        try:
            w = encode_form(f, toks, 0, None)
        except (_Mismatch, EncodeError):
            continue
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.clear()
        _CACHE[s] = w
        return _PACK(w)
    return ("fix", s, None, None)      # no form fits: the full search raises the exact error


def _compile_line(raw: str):
    """A source line -> bytes (one instruction, address-independent) or a tuple of items:
    ("label", name) ("data", bytes) ("align", n, fill) ("fix", stmt, form, toks) or bytes.
    Raises EncodeError for malformed directives (as the two-pass assembler did in its first
    pass)."""
    out = []
    for kind, s, _ in _items((raw,)):
        if kind == "label":
            out.append(("label", s))
            continue
        head = s.split(None, 1)
        d = head[0].lower()
        arg = head[1] if len(head) > 1 else ""
        try:
            if d in _DIRECTIVE_BITS:
                bits = _DIRECTIVE_BITS[d]
                vals = _ints(arg, bits)
                out.append(("data", b"".join(v.to_bytes(bits // 8, "little") for v in vals)))
            elif d in (".balign", ".align", ".p2align"):
                a = [x.strip() for x in arg.split(",")] if arg else []
                if not a:
                    raise EncodeError("missing alignment")
                n = int(a[0], 0)
                if d == ".p2align" or (d == ".align"):
                    n = 1 << n  # GNU as on AArch64: .align is a power of two
                if n <= 0 or n & (n - 1):
                    raise EncodeError(f"alignment {n} is not a power of two")
                fill = int(a[1], 0) if len(a) > 1 and a[1] else None
                out.append(("align", n, fill))
            elif d in _IGNORED or d.startswith(".cfi"):
                pass
            elif d.startswith("."):
                raise EncodeError(f"unsupported directive {d!r}")
            else:
                out.append(_compile_stmt(s))
        except (EncodeError, ValueError) as e:
            raise EncodeError(f"{raw.strip()!r}: {e}") from None
    if len(out) == 1 and type(out[0]) is bytes:
        return out[0]
    return tuple(out)


def assemble(lines, base: int = 0) -> bytes:
    """Assemble GNU-as syntax ``lines`` placed at address ``base``; returns the bytes.

    One pass: each distinct source line is parsed and (where its bytes do not depend on where it
    lands) encoded once per process (``_LINES``); labels are collected on the way and the
    pc-relative instructions are patched in at the end (fix-ups)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    cache = _LINES
    get = cache.get
    out = bytearray()
    labels: dict = {}
    fixups = []
    for raw in lines:
        c = get(raw)
        if c is None:
            c = _compile_line(raw)
            if len(cache) > _LINES_MAX:
                cache.clear()
            cache[raw] = c
        if type(c) is bytes:
            if (base + len(out)) & 3:
                fixups.append((len(out), raw, ("fix", None, None, None)))
            out += c
            continue
        for it in c:
            if type(it) is bytes:
                if (base + len(out)) & 3:
                    fixups.append((len(out), raw, ("fix", None, None, None)))
                out += it
                continue
            k = it[0]
            if k == "label":
                s = it[1]
                if s in labels:
                    raise EncodeError(f"{raw.strip()!r}: label {s!r} defined twice")
                labels[s] = base + len(out)
            elif k == "fix":
                fixups.append((len(out), raw, it))
                out += b"\0\0\0\0"
            elif k == "data":
                out += it[1]
            else:   # align
                n, fill = it[1], it[2]
                pc = base + len(out)
                pad = (-pc) % n
                if fill is None and pad % 4 == 0 and pc % 4 == 0:
                    out += _NOP * (pad // 4)  # nop padding as GNU as
                else:
                    out += bytes([fill or 0]) * pad
    for off, raw, (_, s, f, toks) in fixups:
        pc = base + off
        if pc & 3 or s is None:
            raise EncodeError(f"{raw.strip()!r}: instruction at misaligned address {pc:#x}")
        w = None
        if f is not None:
            try:
                w = encode_form(f, toks, pc, labels)
            except (_Mismatch, EncodeError):
                w = None
        if w is None:
            try:
                w = encode_line(s, pc, labels)
            except EncodeError as e:
                msg = str(e)
                raise EncodeError(msg if raw.strip() in msg or s in msg
                                  else f"{raw.strip()!r}: {msg}") from None
        out[off:off + 4] = _PACK(w)
    return bytes(out)
