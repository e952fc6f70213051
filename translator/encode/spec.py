"""Parser for ``a64.spec`` and the table-driven matcher/encoder built from it.

Spec language (one instruction form per line, ``#`` comments, ``\\`` continues a line)::

    enum NAME  word=value word=value ...          # named operand vocabularies
    set  NAME  text                               # text macro, used as $NAME
    MNEMONICS  OPERANDS | BITS | CONSTRAINTS      # an instruction form

MNEMONICS
    ``fadd`` or a family ``fadd:000/fsub:001/fmul:010`` (the binary value after ``:`` is
    bound to variable ``op``), or ``b.COND`` (expanded over the enum of ``COND``).
OPERANDS (GNU-as syntax with placeholders; ``(...)?`` marks an optional part)
    register placeholders: an upper-case class letter then a lower-case field suffix.
    ``X``/``W`` = 64/32-bit GPR (31 = xzr/wzr), ``R`` = either (binds ``sf``),
    ``Xn|SP``/``Wn|WSP``/``Rn|SP`` = 31 means sp, ``Z`` SVE vector, ``P`` predicate,
    ``B H S D Q`` scalar FP/SIMD, ``V`` SIMD vector (``Vn.d[1]``), ``F`` any scalar FP
    (its letter is bound to ``FT``).  GPR/FP fields are called ``R<suffix>``, vectors
    ``Z<suffix>``, predicates ``P<suffix>``: ``Xd`` -> field ``Rd``, ``Zm.T`` -> ``Zm``.
    ``.T`` after a vector/predicate binds the element-size letter to variable ``T``;
    ``.s`` demands that exact size.  ``#name`` is a numeric operand (or a label for pc-relative
    types).  Bare UPPER-CASE words are enum operands (``COND``, ``SH``, ``EXT``...).
    Other lower-case words and punctuation must appear literally.
BITS (32 bits, msb first)
    ``0``/``1`` literal bits, ``name:width`` a field, ``name`` a 1-bit field,
    ``name[hi:lo]``/``name[i]`` a slice of a wider value.
CONSTRAINTS (space separated, applied in order)
    ``var:domain``  domain = enum name (optionally ``cond(eq,ne)``), size letters ``hsd``,
                    ``u12`` ``s9`` ``u12*8`` ``s7*4`` (range/scale, signed values are masked),
                    ``rel26`` ``rel19`` ``rel14`` ``adr21`` ``adrp21`` (pc-relative),
                    ``bimm32`` ``bimm64`` (logical immediates), ``f8`` (8-bit fp immediate).
    ``a=expr`` / ``a,b=expr``   computed variables (Python expression over variables/helpers).
    ``?expr``                   a check; the form is rejected when false.
"""
from __future__ import annotations

import itertools
import os
import re
from typing import Optional

from . import immediates as imm
from .immediates import EncodeError

SIZE_CODES = {"b": 0, "h": 1, "s": 2, "d": 3, "q": 4}
SIZE_CODES_ENUM = SIZE_CODES

# --------------------------------------------------------------------------------------------
# Tokenizer for assembly operand text
# --------------------------------------------------------------------------------------------
_TOK_RE = re.compile(
    r"\s*(?:"
    r"(?P<num>[-+]?(?:0x[0-9a-fA-F]+|\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+))"
    r"|(?P<id>[A-Za-z_.$][\w.$]*)"
    r"|(?P<p>[\[\]{},!/:]))"
    r"|\s*(?P<hash>#)"
)
_REG_RE = re.compile(r"^(?:([xwzpbhsdqv])(\d+)|(xzr|wzr|sp|wsp))(?:\.(b|h|s|d|q|\d+[bhsd]))?$")

# token tuples: ("r", cls, num, size, special) ("n", value) ("w", lower, original) ("p", ch)
_REGCACHE: dict = {}


def _classify(ident: str):
    low = ident.lower()
    t = _REGCACHE.get(low)
    if t is not None:
        return t
    if low[0] not in "xwzpbhsdqv":
        return ("w", low, ident)
    m = _REG_RE.match(low)
    if m:
        if m.group(3):
            sp = m.group(3)
            cls = "x" if sp in ("xzr", "sp") else "w"
            t = ("r", cls, 31, m.group(4), "zr" if sp.endswith("zr") else "sp")
        else:
            cls, num = m.group(1), int(m.group(2))
            lim = 16 if cls == "p" else 31 if cls in "xw" else 32
            if num >= lim:
                raise EncodeError(f"invalid register {ident!r}")
            else:
                t = ("r", cls, num, m.group(4), None)
    else:
        t = ("w", low, ident)
    _REGCACHE[low] = t
    return t


def tokenize(text: str):
    out = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOK_RE.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise EncodeError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        if m.group("hash"):
            continue
        g = m.lastgroup
        if g == "num":
            s = m.group("num")
            sl = s.lower()
            if "x" in sl:
                v = int(sl, 16)
            elif "." in sl or "e" in sl:
                v = float(sl)
            else:
                v = int(sl, 10)
            out.append(("n", v))
        elif g == "id":
            out.append(_classify(m.group("id")))
        else:
            out.append(("p", m.group("p")))
    return out


# --------------------------------------------------------------------------------------------
# Spec parsing
# --------------------------------------------------------------------------------------------
_PH_REG = re.compile(r"^([XWRZPBHSDQVF])([a-z][a-z0-9]*)(\|W?SP)?(?:\.([A-Z][A-Z0-9]*|[a-z0-9]+))?$")
_PAT_TOK = re.compile(r"\s*(?:(?P<hash>#)?(?P<id>[A-Za-z_][\w.|]*)|#?(?P<num>[-+]?\d+(?:\.\d+)?)|(?P<p>[\[\]{},!/]))")
_DOM_NUM = re.compile(r"^([us])(\d+)(?:\*(\d+))?$")
_DOM_REL = re.compile(r"^(rel|adr|adrp)(\d+)$")


class Form:
    __slots__ = ("mnem", "pattern", "ntok", "tokens", "fixed", "fields", "widths", "steps",
                 "pcrel", "text", "lineno", "init", "ivars", "relvars")

    def __repr__(self):
        return f"<Form {self.mnem} {self.pattern} @{self.lineno}>"


def _expand_optional(s: str):
    """'a(, b( c)?)?' -> every combination (nested optional groups allowed)."""
    i = s.find("(")
    if i < 0:
        return [s]
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                break
    else:
        raise SyntaxError("unbalanced '(' in operand pattern")
    if s[j + 1:j + 2] != "?":
        raise SyntaxError("'(...)' must be followed by '?'")
    inner = _expand_optional(s[i + 1:j])
    rest = _expand_optional(s[j + 2:])
    head = s[:i]
    out = []
    for r in rest:
        out.append(head + r)
        for x in inner:
            out.append(head + x + r)
    return out


def _compile_pattern(pat: str, domains: dict):
    toks = []
    pos = 0
    pat = pat.strip()
    while pos < len(pat):
        m = _PAT_TOK.match(pat, pos)
        if not m or m.end() == pos:
            if pat[pos:].strip() == "":
                break
            raise SyntaxError(f"bad operand pattern near {pat[pos:]!r}")
        pos = m.end()
        if m.group("p"):
            toks.append(("P", m.group("p")))
        elif m.group("num") is not None:
            s = m.group("num")
            toks.append(("N", float(s) if "." in s else int(s)))
        else:
            ident = m.group("id")
            if m.group("hash"):
                toks.append(("I", ident))
                continue
            rm = _PH_REG.match(ident)
            if rm and (ident[0] in "XWRZPBHSDQVF"):
                cls, suf, spm, size = rm.groups()
                field = {"Z": "Z", "P": "P"}.get(cls, "R") + suf
                if size is None:
                    sz = None
                elif size[0].isupper():
                    sz = ("var", size)
                else:
                    sz = ("lit", size)
                toks.append(("R", cls, field, "sp" if spm else "zr", sz))
            elif ident[0].isupper():
                d = domains.get(ident)
                if d is not None and d[0] in ("enum",):
                    toks.append(("E", ident))
                elif d is not None:
                    toks.append(("I", ident))
                else:
                    toks.append(("E", ident))
            elif len(toks) >= 2 and toks[-1] == ("P", "[") and toks[-2][0] == "R":
                toks.append(("I", ident))  # element index: Zm.s[i]
            else:
                if "|" in ident:
                    raise SyntaxError(f"bad placeholder {ident!r}")
                toks.append(("W", ident.lower()))
    return toks


class Spec:
    def __init__(self, text: str, filename: str = "a64.spec"):
        self.enums: dict = {"size": SIZE_CODES_ENUM}
        self.macros: dict = {}
        self.forms: dict = {}
        self.filename = filename
        self._parse(text)

    # -- parsing ---------------------------------------------------------------------------
    def _parse(self, text: str):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            self._parse0(text)

    def _parse0(self, text: str):
        lines = text.split("\n")
        buf = ""
        startno = 0
        for no, raw in enumerate(lines, 1):
            line = self._strip_comment(raw)
            if not buf:
                startno = no
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            line = (buf + line).strip()
            buf = ""
            if not line:
                continue
            try:
                self._parse_line(line, startno)
            except (SyntaxError, KeyError, ValueError, Warning) as e:
                raise SyntaxError(f"{self.filename}:{startno}: {e}: {line}") from None

    @staticmethod
    def _strip_comment(raw: str) -> str:
        # a comment is '#' preceded by whitespace and followed by a space (or at line start)
        m = re.search(r"(^|\s)#(\s|$)", raw)
        return raw[:m.start()] if m else raw

    def _parse_line(self, line: str, no: int):
        head = line.split(None, 1)
        if head[0] == "enum":
            name, rest = head[1].split(None, 1)
            d = {}
            for item in rest.split():
                k, v = item.split("=")
                d[k] = int(v, 0)
            self.enums[name] = d
            return
        if head[0] == "set":
            name, rest = head[1].split(None, 1)
            self.macros[name] = rest.strip()
            return
        for _ in range(8):
            if "$" not in line:
                break
            for name in sorted(self.macros, key=len, reverse=True):
                line = line.replace("$" + name, self.macros[name])
        if "$" in line:
            raise SyntaxError("undefined macro")
        cols = re.split(r"\s\|\s", line)
        if len(cols) < 2 or len(cols) > 3:
            raise SyntaxError("expected 'MNEMONIC OPERANDS | BITS | CONSTRAINTS'")
        left = cols[0].strip().split(None, 1)
        mnems, operands = left[0], (left[1] if len(left) > 1 else "")
        bits = cols[1].split()
        cons = cols[2].split() if len(cols) == 3 else []
        # domains first (needed to classify pattern tokens)
        domains = {}
        steps = []
        for c in cons:
            if c.startswith("?"):
                steps.append(("check", c[1:], compile(c[1:], f"{self.filename}:{no}", "eval")))
                continue
            m = re.match(r"^([A-Za-z_][\w,]*)=(.+)$", c)
            if m:
                names = m.group(1).split(",")
                steps.append(("calc", names, compile(m.group(2), f"{self.filename}:{no}", "eval")))
                continue
            m = re.match(r"^([A-Za-z_]\w*):(.+)$", c)
            if not m:
                raise SyntaxError(f"bad constraint {c!r}")
            var, dom = m.groups()
            domains[var] = self._domain(dom)
            steps.append(("dom", var, domains[var]))
        # mnemonic families
        expanded = []
        for item in mnems.split("/"):
            init = {}
            if ":" in item:
                item, val = item.split(":")
                init["op"] = int(val, 2)
            mv = re.search(r"\.([A-Z][A-Z0-9]*)$", item)
            if mv:
                var = mv.group(1)
                dom = domains.get(var)
                if not dom or dom[0] != "enum":
                    raise SyntaxError(f"mnemonic variable {var} needs an enum domain")
                base = item[: mv.start()].lower()
                for word in dom[2]:
                    expanded.append((f"{base}.{word}", dict(init, **{var: word})))
            else:
                expanded.append((item.lower(), init))
        # bits
        fixed_mask = fixed_val = 0
        fields = []
        widths = {}
        pos = 32
        for b in bits:
            if re.fullmatch(r"[01]+", b):
                for ch in b:
                    pos -= 1
                    fixed_mask |= 1 << pos
                    if ch == "1":
                        fixed_val |= 1 << pos
                continue
            m = re.fullmatch(r"([A-Za-z_]\w*)(?::(\d+)|\[(\d+)(?::(\d+))?\])?", b)
            if not m:
                raise SyntaxError(f"bad bit token {b!r}")
            name, w, hi, lo = m.groups()
            if w is not None:
                w = int(w)
                lo_i = 0
                hi_i = w - 1
            elif hi is not None:
                hi_i = int(hi)
                lo_i = int(lo) if lo is not None else hi_i
                w = hi_i - lo_i + 1
            else:
                w, lo_i, hi_i = 1, 0, 0
            pos -= w
            fields.append((name, lo_i, (1 << w) - 1, pos))
            widths[name] = max(widths.get(name, 0), hi_i + 1)
        if pos != 0:
            raise SyntaxError(f"bit pattern has {32 - pos} bits, expected 32")
        ivars = tuple(sorted({t[1] for t in _compile_pattern(
            operands.replace("(", " ").replace(")?", " "), domains)
            if t[0] == "I" and t[1] not in domains}))
        for operand_variant in _expand_optional(operands):
            ptoks = _compile_pattern(operand_variant, domains)
            for nm, init in expanded:
                f = Form()
                f.mnem = nm
                f.pattern = operand_variant.strip()
                f.tokens = ptoks
                f.ntok = len(ptoks)
                f.fixed = fixed_val
                f.fields = fields
                f.widths = widths
                f.steps = steps
                f.init = init
                f.ivars = ivars
                f.relvars = frozenset(k for k, d in domains.items() if d[0] == "rel")
                f.pcrel = any(d[0] == "rel" for d in domains.values())
                f.text = line
                f.lineno = no
                self.forms.setdefault(nm, []).append(f)
        # sanity: every field must come from somewhere
        known = set(domains) | {"op", "sf", "FT"} | {n for s in steps if s[0] == "calc" for n in s[1]}
        for t in _compile_pattern(operands.replace("(", " ").replace(")?", " "), domains):
            if t[0] == "R":
                known.add(t[2])
                if t[4] and t[4][0] == "var":
                    known.add(t[4][1])
            elif t[0] in ("I", "E"):
                known.add(t[1])
        for nm, init in expanded:
            known |= set(init)
        for name in widths:
            if name not in known:
                raise SyntaxError(f"field {name!r} is never bound")

    def _domain(self, dom: str):
        default = None
        if "=" in dom:
            dom, dflt = dom.split("=", 1)
            default = int(dflt, 0)
        d = self._domain1(dom)
        return d + (default,) if d[0] == "num" else d

    def _domain1(self, dom: str):
        m = re.fullmatch(r"(\w+)(?:\(([\w,]+)\))?", dom)
        if m and m.group(1) in self.enums:
            e = self.enums[m.group(1)]
            allowed = m.group(2).split(",") if m.group(2) else list(e)
            for a in allowed:
                if a not in e:
                    raise SyntaxError(f"{a!r} not in enum {m.group(1)}")
            return ("enum", e, allowed)
        if re.fullmatch(r"[bhsdq]+", dom):
            return ("enum", self.enums["size"], list(dom))
        m = _DOM_NUM.match(dom)
        if m:
            return ("num", m.group(1) == "s", int(m.group(2)), int(m.group(3) or 1))
        m = _DOM_REL.match(dom)
        if m:
            return ("rel", m.group(1), int(m.group(2)))
        if dom in ("bimm32", "bimm64"):
            return ("bimm", int(dom[4:]))
        if dom == "f8":
            return ("f8",)
        if dom == "int":
            return ("num", True, 64, 1)
        if dom == "float":
            return ("float",)
        raise SyntaxError(f"unknown domain {dom!r}")


# --------------------------------------------------------------------------------------------
# Expression helpers visible inside the spec
# --------------------------------------------------------------------------------------------
def _esz(t):
    return SIZE_CODES[t]


def _ebits(t):
    return 8 << SIZE_CODES[t]


def _need(cond, msg="invalid operand combination"):
    if not cond:
        raise EncodeError(msg)
    return True


def _uimm(v, width, shift=0):
    """Unsigned ``width``-bit field holding v >> shift (v must be a multiple of 1<<shift)."""
    if not isinstance(v, int):
        raise EncodeError(f"expected an integer, got {v}")
    if v & ((1 << shift) - 1):
        raise EncodeError(f"offset {v} is not a multiple of {1 << shift}")
    q = v >> shift
    if not 0 <= q < (1 << width):
        raise EncodeError(f"offset {v} out of range (0..{((1 << width) - 1) << shift})")
    return q


def _simm(v, width, shift=0):
    if not isinstance(v, int):
        raise EncodeError(f"expected an integer, got {v}")
    if v & ((1 << shift) - 1):
        raise EncodeError(f"offset {v} is not a multiple of {1 << shift}")
    q = v >> shift
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if not lo <= q <= hi:
        raise EncodeError(f"offset {v} out of range ({lo << shift}..{hi << shift})")
    return q & ((1 << width) - 1)


def _pick(table, key):
    try:
        return table[key]
    except KeyError:
        raise EncodeError(f"element size combination {key!r} not allowed (expected one of "
                          f"{', '.join(table)})") from None


def _rng(v, lo, hi, what="immediate"):
    if not isinstance(v, int) or not lo <= v <= hi:
        raise EncodeError(f"{what} {v} out of range ({lo}..{hi})")
    return v


HELPERS = {
    "esz": _esz, "pick": _pick, "uimm": _uimm, "simm": _simm, "ebits": _ebits, "need": _need, "rng": _rng,
    "bimm": imm.bimm, "sve_bimm": imm.sve_bimm, "movz_enc": imm.movz_enc,
    "movn_enc": imm.movn_enc, "mov_bimm": imm.mov_bimm, "add_imm": imm.add_imm,
    "fimm8": imm.fimm8, "fsel": imm.fsel, "sve_imm8sh": imm.sve_imm8sh,
    "SIZE": SIZE_CODES, "__builtins__": {"abs": abs, "min": min, "max": max, "int": int,
                                         "float": float, "len": len},
}


# --------------------------------------------------------------------------------------------
# Matching and encoding
# --------------------------------------------------------------------------------------------
class _CheckFailed(EncodeError):
    pass


class _Mismatch(Exception):
    pos = 0


_CLS_OK = {
    "X": ("x",), "W": ("w",), "R": ("x", "w"), "Z": ("z",), "P": ("p",), "B": ("b",),
    "H": ("h",), "S": ("s",), "D": ("d",), "Q": ("q",), "V": ("v",), "F": ("b", "h", "s", "d", "q"),
}
_CLS_NAME = {"X": "x register", "W": "w register", "R": "general register", "Z": "z register",
             "P": "p register", "F": "fp register", "V": "v register"}


def match_tokens(form: Form, toks: list, env: dict):
    """Bind operand tokens to the form's pattern; raise _Mismatch(msg) on shape mismatch."""
    i = 0
    try:
        _match(form, toks, env)
    except _Mismatch as e:
        e.pos = getattr(e, "pos", 0)
        raise


def _match(form: Form, toks: list, env: dict):
    opno = 0
    for i, (pt, at) in enumerate(zip(form.tokens, toks)):
        if pt == ("P", ","):
            opno += 1
        try:
            _match1(form, i, pt, at, env, opno)
        except _Mismatch as e:
            e.pos = i
            raise


def _match1(form, i, pt, at, env, opno):
    i = opno + 1
    if True:
        k = pt[0]
        if k == "R":
            if at[0] != "r":
                raise _Mismatch(f"operand {i}: expected {_CLS_NAME.get(pt[1], 'register')}")
            _, cls, field, spm, sz = pt
            acls = at[1]
            if acls not in _CLS_OK[cls]:
                raise _Mismatch(f"operand {i}: expected {_CLS_NAME.get(cls, cls + ' register')}, got {acls}")
            special = at[4]
            if special is not None:
                if spm == "sp" and special == "zr":
                    raise _Mismatch(f"operand {i}: zero register not allowed here (sp form)")
                if spm == "zr" and special == "sp":
                    raise _Mismatch(f"operand {i}: sp not allowed here")
            num = at[2]
            old = env.get(field)
            if old is not None and old != num:
                raise _Mismatch(f"operand {i}: must be the same register as the earlier {field}")
            env[field] = num
            if cls == "R":
                sf = 1 if acls == "x" else 0
                o = env.get("sf")
                if o is not None and o != sf:
                    raise _Mismatch("mixed w/x register widths")
                env["sf"] = sf
            elif cls == "F":
                o = env.get("FT")
                if o is not None and o != acls:
                    raise _Mismatch("mixed fp register sizes")
                env["FT"] = acls
            asz = at[3]
            if sz is None:
                if asz is not None:
                    raise _Mismatch(f"operand {i}: unexpected element size .{asz}")
            elif sz[0] == "lit":
                if asz != sz[1]:
                    raise _Mismatch(f"operand {i}: expected .{sz[1]}")
            else:
                if asz is None:
                    raise _Mismatch(f"operand {i}: missing element size")
                old = env.get(sz[1])
                if old is not None and old != asz:
                    raise _Mismatch(f"operand {i}: element size mismatch")
                env[sz[1]] = asz
        elif k == "P":
            if at[0] != "p" or at[1] != pt[1]:
                raise _Mismatch(f"operand {i}: expected '{pt[1]}'")
        elif k == "W":
            if at[0] != "w" or at[1] != pt[1]:
                raise _Mismatch(f"operand {i}: expected '{pt[1]}'")
        elif k == "N":
            if at[0] != "n" or at[1] != pt[1]:
                raise _Mismatch(f"operand {i}: expected #{pt[1]}")
        elif k == "I":
            if at[0] == "n":
                env[pt[1]] = at[1]
            elif at[0] == "w" and pt[1] in form.relvars:
                env[pt[1]] = ("label", at[2])
            else:
                raise _Mismatch(f"operand {i}: expected an immediate")
        elif k == "E":
            if at[0] == "w":
                env[pt[1]] = at[1]
            elif at[0] == "r" and at[3] is None and at[4] is None:
                # words like 'hs'/'d' can never be confused with registers in practice; but
                # condition 'hs' etc are not registers. A bare 'b'? no.
                raise _Mismatch(f"operand {i}: expected a keyword")
            else:
                raise _Mismatch(f"operand {i}: expected a keyword")


def _apply_domain(var, dom, env, pc, labels):
    if var not in env:
        if dom[0] == "enum":
            env[var] = dom[2][0]
        elif dom[0] == "rel":
            raise EncodeError(f"missing target for {var}")
        elif dom[0] == "num" and len(dom) > 4 and dom[4] is not None:
            env[var] = dom[4]
            return
        else:
            env[var] = 0
    v = env[var]
    kind = dom[0]
    if kind == "enum":
        if v not in dom[2]:
            raise _Mismatch(f"{v!r} not allowed here (expected one of {', '.join(dom[2])})")
        if dom[1] is not SIZE_CODES_ENUM:
            env[var] = dom[1][v]
            env[var + "_name"] = v
        return
    if isinstance(v, tuple):
        if kind != "rel":
            raise _Mismatch(f"expected a number, got {v[1]!r}")
        if labels is None or v[1] not in labels:
            raise EncodeError(f"undefined label {v[1]!r}")
        target = labels[v[1]]
        off = target - pc if dom[1] != "adrp" else (target >> 12) - (pc >> 12)
    else:
        off = v
        if kind == "rel" and dom[1] == "adrp":
            if not isinstance(v, int) or v % 4096:
                raise EncodeError(f"adrp offset {v} must be a multiple of 4096")
            off = v >> 12
    if kind == "float":
        env[var] = float(v)
        return
    if kind == "f8":
        env[var] = imm.fimm8(v)
        return
    if not isinstance(off, int):
        raise _Mismatch(f"expected an integer, got {off}")
    if kind == "num":
        signed, width, scale = dom[1], dom[2], dom[3]
        if off % scale:
            raise EncodeError(f"immediate {off} is not a multiple of {scale}")
        q = off // scale
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        if not lo <= q <= hi:
            raise EncodeError(f"immediate {off} out of range ({lo * scale}..{hi * scale}"
                              f"{', step ' + str(scale) if scale > 1 else ''})")
        env[var] = q & ((1 << width) - 1)
        return
    if kind == "rel":
        width = dom[2]
        if dom[1] == "rel":
            if off % 4:
                raise EncodeError(f"branch offset {off} is not a multiple of 4")
            q = off >> 2
        else:
            q = off
        if not -(1 << (width - 1)) <= q < (1 << (width - 1)):
            raise EncodeError(f"pc-relative offset {off} out of range")
        env[var] = q & ((1 << width) - 1)
        return
    if kind == "bimm":
        env[var] = imm.bimm(off, dom[1])
        return
    raise EncodeError(f"bad domain {dom}")


def _run_pending(pending, env, final=False):
    while pending:
        left = []
        for st in pending:
            try:
                r = eval(st[2], HELPERS, env)
            except NameError:
                left.append(st)
                continue
            except (TypeError, ValueError, ZeroDivisionError) as e:
                raise EncodeError(f"bad operand value ({e})") from None
            names = st[1]
            if len(names) == 1:
                env[names[0]] = r
            else:
                for n, val in zip(names, r):
                    env[n] = val
        if len(left) == len(pending):
            if final:
                raise EncodeError(f"internal: cannot evaluate `{left[0][1]}`")
            return left
        pending = left
    return None


def encode_form(form: Form, toks: list, pc: int, labels):
    env = dict(form.init)
    match_tokens(form, toks, env)
    for v in form.ivars:
        if v not in env:
            env[v] = 0
    env["pc"] = pc
    pending = None
    for st in form.steps:
        if pending and st[0] != "calc":
            pending = _run_pending(pending, env)
        if st[0] == "dom":
            _apply_domain(st[1], st[2], env, pc, labels)
        elif st[0] == "calc":
            try:
                r = eval(st[2], HELPERS, env)
            except (EncodeError, _Mismatch):
                raise
            except NameError:
                pending = (pending or []) + [st]
                continue
            except KeyError as e:
                raise EncodeError(f"bad operand {e}") from None
            except (TypeError, ValueError, ZeroDivisionError) as e:
                raise EncodeError(f"bad operand value ({e})") from None
            names = st[1]
            if len(names) == 1:
                env[names[0]] = r
            else:
                for n, val in zip(names, r):
                    env[n] = val
        else:
            try:
                ok = eval(st[2], HELPERS, env)
            except NameError as e:
                raise EncodeError(f"internal: {e}") from None
            except (TypeError, KeyError, ValueError) as e:
                raise EncodeError(f"bad operand value ({e})") from None
            if not ok:
                raise _CheckFailed(f"operands violate constraint `{st[1]}`")
    if pending:
        _run_pending(pending, env, final=True)
    w = form.fixed
    for name, lo, mask, shift in form.fields:
        v = env.get(name)
        if v is None:
            raise EncodeError(f"internal: field {name} unbound")
        if isinstance(v, str):
            v = SIZE_CODES[v]
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, int):
            raise EncodeError(f"operand {name}={v!r} must be an integer")
        width = form.widths[name]
        if v < 0 or v >> width:
            raise EncodeError(f"value {v} does not fit the {width}-bit field {name}")
        w |= ((v >> lo) & mask) << shift
    return w


_SPEC: Optional[Spec] = None


def load_spec() -> Spec:
    global _SPEC
    if _SPEC is None:
        path = os.path.join(os.path.dirname(__file__), "a64.spec")
        with open(path, encoding="utf-8") as fh:
            _SPEC = Spec(fh.read(), "a64.spec")
    return _SPEC
