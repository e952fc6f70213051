"""Where x86 RFLAGS live in NZCV, and how x86 conditions become A64 conditions.

After a flag-setting instruction, each x86 flag is either in an NZCV bit (``Z``, ``N``, ``V``,
``C``; ``!C`` when A64 holds the inverse, as after ``subs``), a known constant (``0``/``1``), or
unavailable (absent). A consumer whose condition needs an unavailable flag is unsupported:
it is never guessed.

PF is the one flag that NZCV cannot hold. Its location ``P`` means: PF is the even parity of the
low byte of w27 (``regmap.X_PF``). A producer whose PF is live copies its result there (the
entry's ``pf:`` lines, engine.py); no other lowering writes x27, so ``P`` stays valid until the
next producer. Only the consumers of ``p``/``np`` read it: their plan is ("parity", want_set)
and they fold the byte themselves (``eor`` by 4, 2, 1: bit 0 is the odd parity).
"""
from __future__ import annotations

from typing import Optional

FlagState = dict  # x86 flag name -> location

INVERT = {"eq": "ne", "ne": "eq", "cs": "cc", "cc": "cs", "mi": "pl", "pl": "mi", "vs": "vc",
          "vc": "vs", "hi": "ls", "ls": "hi", "ge": "lt", "lt": "ge", "gt": "le", "le": "gt"}

# x86 condition suffixes (as in jcc/setcc/cmovcc) with iced's aliases.
CC_ALIASES = {"z": "e", "nz": "ne", "c": "b", "nae": "b", "nb": "ae", "nc": "ae", "na": "be",
              "nbe": "a", "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}


def _flag_cond(flag: str, want_set: bool, st: FlagState) -> Optional[str]:
    """A64 condition that is true exactly when x86 ``flag`` == want_set, or None."""
    loc = st.get(flag)
    if loc is None or loc == "P":
        return None
    if loc in ("0", "1"):
        return "al" if (loc == "1") == want_set else "nv"
    base = {"Z": ("eq", "ne"), "N": ("mi", "pl"), "V": ("vs", "vc"), "C": ("cs", "cc"),
            "!C": ("cc", "cs")}[loc]
    return base[0] if want_set else base[1]


def arm_condition(cc: str, st: FlagState) -> Optional[tuple]:
    """Plan for x86 condition ``cc`` under flag state ``st``.

    Returns ("single", c), ("or", c1, c2) (true if either holds), ("and", c1, c2),
    ("parity", want_pf) (PF lazily in w27: true when PF == want_pf), or None when a needed flag
    is unavailable."""
    cc = CC_ALIASES.get(cc, cc)
    neg = False
    positive = {"no": "o", "ae": "b", "ne": "e", "a": "be", "ns": "s", "np": "p", "ge": "l", "g": "le"}
    if cc in positive:
        cc, neg = positive[cc], True
    plan = None
    if cc == "p" and st.get("PF") == "P":
        return ("parity", not neg)
    if cc in ("o", "b", "e", "s", "p"):
        flag = {"o": "OF", "b": "CF", "e": "ZF", "s": "SF", "p": "PF"}[cc]
        c = _flag_cond(flag, True, st)
        plan = ("single", c) if c else None
    elif cc == "be":
        if st.get("CF") == "!C" and st.get("ZF") == "Z":
            plan = ("single", "ls")
        else:
            c1, c2 = _flag_cond("CF", True, st), _flag_cond("ZF", True, st)
            plan = ("or", c1, c2) if c1 and c2 else None
    elif cc in ("l", "le"):
        if st.get("SF") == "N" and st.get("OF") == "V":
            if cc == "l":
                plan = ("single", "lt")
            elif st.get("ZF") == "Z":
                plan = ("single", "le")
        elif st.get("OF") == "0" and st.get("SF") == "N":   # after test/and: SF != OF  <=> SF
            if cc == "l":
                plan = ("single", "mi")
            elif st.get("ZF") == "Z":
                plan = ("or", "mi", "eq")
    if plan is None:
        return None
    if plan[0] == "or" and ("al" in plan[1:] or "nv" in plan[1:]):   # a constant flag (CF "0" ...)
        rest = [c for c in plan[1:] if c != "nv"]
        plan = ("single", "al" if "al" in rest else (rest[0] if rest else "nv"))
    if plan[0] == "single" and plan[1] in ("al", "nv"):
        plan = ("const", plan[1] == "al")
    if not neg:
        return plan
    if plan[0] == "single":
        return ("single", INVERT[plan[1]])
    if plan[0] == "const":
        return ("const", not plan[1])
    if plan[0] == "or":      # not (a or b) == (not a) and (not b)
        return ("and", INVERT[plan[1]], INVERT[plan[2]])
    return ("or", INVERT[plan[1]], INVERT[plan[2]])


def cc_of(mnemonic: str) -> str:
    for prefix in ("cmov", "set", "j"):
        if mnemonic.startswith(prefix):
            return CC_ALIASES.get(mnemonic[len(prefix):], mnemonic[len(prefix):])
    raise ValueError(mnemonic)


def flags_read(cc: str) -> set[str]:
    """The x86 flags that condition ``cc`` reads."""
    cc = CC_ALIASES.get(cc, cc)
    return {"o": {"OF"}, "no": {"OF"}, "b": {"CF"}, "ae": {"CF"}, "e": {"ZF"}, "ne": {"ZF"},
            "be": {"CF", "ZF"}, "a": {"CF", "ZF"}, "s": {"SF"}, "ns": {"SF"}, "p": {"PF"},
            "np": {"PF"}, "l": {"SF", "OF"}, "ge": {"SF", "OF"}, "le": {"ZF", "SF", "OF"},
            "g": {"ZF", "SF", "OF"}}[cc]
