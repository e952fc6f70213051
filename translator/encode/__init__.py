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

__all__ = ["assemble", "encode_line", "EncodeError", "forms"]

_CACHE: dict = {}
_CACHE_MAX = 1 << 18
_LABEL_RE = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:(?!:)")


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


def assemble(lines, base: int = 0) -> bytes:
    """Assemble GNU-as syntax ``lines`` placed at address ``base``; returns the bytes."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    items = list(_items(lines))
    labels: dict = {}
    plan = []
    pc = base
    for kind, s, raw in items:
        if kind == "label":
            if s in labels:
                raise EncodeError(f"{raw.strip()!r}: label {s!r} defined twice")
            labels[s] = pc
            continue
        head = s.split(None, 1)
        d = head[0].lower()
        arg = head[1] if len(head) > 1 else ""
        try:
            if d in _DIRECTIVE_BITS:
                bits = _DIRECTIVE_BITS[d]
                vals = _ints(arg, bits)
                data = b"".join(v.to_bytes(bits // 8, "little") for v in vals)
                plan.append(("data", data, raw))
                pc += len(data)
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
                pad = (-pc) % n
                plan.append(("align", (pad, fill), raw))
                pc += pad
            elif d in _IGNORED or d.startswith(".cfi"):
                pass
            elif d.startswith("."):
                raise EncodeError(f"unsupported directive {d!r}")
            else:
                plan.append(("insn", s, raw))
                pc += 4
        except (EncodeError, ValueError) as e:
            raise EncodeError(f"{raw.strip()!r}: {e}") from None
    out = bytearray()
    pc = base
    for kind, s, raw in plan:
        if kind == "data":
            out += s
            pc += len(s)
        elif kind == "align":
            pad, fill = s
            if fill is None and pad % 4 == 0 and pc % 4 == 0:
                out += struct.pack("<I", 0xD503201F) * (pad // 4)  # nop padding as GNU as
            else:
                out += bytes([fill or 0]) * pad
            pc += pad
        else:
            if pc & 3:
                raise EncodeError(f"{raw.strip()!r}: instruction at misaligned address {pc:#x}")
            try:
                w = encode_line(s, pc, labels)
            except EncodeError as e:
                msg = str(e)
                raise EncodeError(msg if raw.strip() in msg or s in msg
                                  else f"{raw.strip()!r}: {msg}") from None
            out += struct.pack("<I", w)
            pc += 4
    return bytes(out)
