"""Generate representative assembly lines for every spec form (used by the tests)."""
from __future__ import annotations

import random

from .spec import Form, load_spec

_NUMS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 20, 24, 31, 32, 33, 48, 63, 64,
         100, 127, 128, 255, 256,
         504, 1008, 4095, 4096, 0x7FFF, 0xFFFF, 0x10000, -1, -2, -4, -8, -16, -64, -128, -256,
         -512, 0xFF, 0xFF00, 0xF0F0, 0x0F0F0F0F, 0x7FFFFFFF, 0x80000000, 0xFFFF0000,
         0x5555555555555555, 0xFFFF0000FFFF0000, 0x3FF0000000000000, 0xFFFFFFFFFFFF0000]
_FLOATS = [0.0, 0.5, 1.0, 2.0, -1.0, 0.25, 3.5, 31.0, -0.125]


def _num_candidates(dom, rng):
    if dom is None:
        return _NUMS if rng.random() < 0.5 else [0, 1, 2, 3, 4]
    k = dom[0]
    if k == "num":
        signed, width, scale = dom[1], dom[2], dom[3]
        if width > 16:
            return _NUMS
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        vals = {lo, hi, 0, 1, (lo + hi) // 2, rng.randint(lo, hi), hi + 1, lo - 1}
        return [v * scale for v in vals] + [scale + 1]
    if k == "rel":
        if dom[1] == "adrp":
            return [0, 4096, -4096, 4096 * 1000, -4096 * 7]
        if dom[1] == "adr":
            return [0, 1, -1, 1000, -(1 << 20), (1 << 20) - 1]
        w = dom[2]
        return [0, 4, -4, 8, 1024, -1024, ((1 << (w - 1)) - 1) * 4, -(1 << (w - 1)) * 4, 6]
    if k == "f8":
        return _FLOATS
    if k == "bimm":
        return [0xFF, 0xFF00, 0x0F0F0F0F, 0x5555555555555555, 0x7FFFFFFF, 1, 0xFFFFFFFE, 5]
    return _NUMS


def _fmt_num(v):
    if isinstance(v, float):
        return "#" + repr(v)
    if v < 0:
        return f"#{v}"
    return f"#{v}" if v < 4096 else f"#{v:#x}"


def instance(form: Form, rng: random.Random):
    """One random assembly line for ``form`` (may be out of range: the encoder decides)."""
    spec = load_spec()
    doms = {}
    for st in form.steps:
        if st[0] == "dom":
            doms[st[1]] = st[2]
    regs = {}
    sizes = {}
    sf = rng.choice("xw")
    ft = rng.choice("bhsdq")
    out = []
    prev = None
    for i, t in enumerate(form.tokens):
        k = t[0]
        if k == "R":
            _, cls, field, spm, sz = t
            if field not in regs:
                if cls in "XWR":
                    n = rng.choice([0, 1, 2, 7, 15, 17, 29, 30, 31, rng.randint(0, 31)])
                elif cls == "P":
                    n = rng.choice([0, 1, 3, 7, 7, 8, 15, rng.randint(0, 7)])
                else:
                    n = rng.choice([0, 1, 7, 15, 16, 31, rng.randint(0, 31)])
                regs[field] = n
            n = regs[field]
            letter = {"X": "x", "W": "w", "R": sf, "F": ft}.get(cls, cls.lower())
            if letter in "xw" and n == 31:
                name = ("sp" if letter == "x" else "wsp") if spm == "sp" else letter + "zr"
            else:
                name = f"{letter}{n}"
            if sz is not None:
                if sz[0] == "lit":
                    name += "." + sz[1]
                else:
                    var = sz[1]
                    if var not in sizes:
                        d = doms.get(var)
                        choices = d[2] if d and d[0] == "enum" else list("bhsd")
                        sizes[var] = rng.choice(choices)
                    name += "." + sizes[var]
            piece = name
        elif k == "P":
            piece = t[1]
        elif k == "W":
            piece = t[1]
        elif k == "N":
            if prev is not None and prev[0] == "P" and prev[1] == "[" and i >= 2 and form.tokens[i - 2][0] == "R":
                piece = str(t[1])
            else:
                piece = _fmt_num(t[1])
        elif k == "I":
            d = doms.get(t[1])
            v = rng.choice(_num_candidates(d, rng))
            if prev is not None and prev[0] == "P" and prev[1] == "[" and i >= 2 and form.tokens[i - 2][0] == "R":
                piece = str(v)  # vector index: bare number
            elif d is not None and d[0] == "float":
                piece = "#" + repr(rng.choice(_FLOATS))
            else:
                piece = _fmt_num(v)
        else:  # enum
            d = doms.get(t[1])
            if d is None and t[1] in form.init:
                piece = form.init[t[1]]
            else:
                words = d[2] if d else ["?"]
                piece = rng.choice(words)
        out.append((k, piece))
        prev = t
    return render(form.mnem, out)


def render(mnem, pieces):
    s = ""
    prevk = None
    prevp = None
    for k, p in pieces:
        if k == "P":
            if p == ",":
                s += ", "
            elif p == "[" and prevk == "R":
                s += "["
            elif p in "[{" and s and not s.endswith((" ", "[", "{")):
                s += " " + p
            else:
                s += p
        else:
            if s and not s.endswith((" ", "[", "{", "/")):
                s += " "
            s += p
        prevk, prevp = k, p
    return f"{mnem} {s}".strip()


def all_samples(per_form: int = 6, seed: int = 1, rejected: int = 2, tries: int = 300):
    """[(form, line, word_or_None)]: up to ``per_form`` instances per form that our encoder
    accepts (word) plus up to ``rejected`` it refuses (None), duplicates removed."""
    from . import EncodeError, encode_line
    rng = random.Random(seed)
    spec = load_spec()
    out = []
    for mnem, flist in spec.forms.items():
        for f in flist:
            seen = set()
            ok = bad = 0
            for _ in range(tries):
                if ok >= per_form and bad >= rejected:
                    break
                line = instance(f, rng)
                if line in seen:
                    continue
                seen.add(line)
                try:
                    w = encode_line(line)
                except EncodeError:
                    if bad < rejected:
                        bad += 1
                        out.append((f, line, None))
                    continue
                if ok < per_form:
                    ok += 1
                    out.append((f, line, w))
    return out
