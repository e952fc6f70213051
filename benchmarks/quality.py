"""Code quality: A64 instructions per translated x86 instruction (static and inline-only), the
per-form expansion over a corpus, and the comparison with Fujitsu's published expansion."""
from __future__ import annotations

from collections import Counter
from typing import Optional

from . import a64fx

# Fujitsu's published x86 -> A64 expansion (instructions per x86 instruction, address arithmetic
# excluded except in the address row). None = Fujitsu does not support the form.
# (row label, x86 bytes of a representative instance, Fujitsu count, what to count)
FUJITSU = [
    ("vaddps zmm,zmm,zmm", "62f16c4858cb", 1, "body"),
    ("vaddps zmm{k},zmm,zmm", "62f16c4958cb", 2, "body"),
    ("vaddps zmm{k}{z},zmm,zmm", "62f16cc958cb", None, "body"),
    ("vaddps ymm,ymm,ymm", "c5ec58cb", 2, "body"),
    ("vfmadd231ps zmm,zmm,zmm", "62f26d48b8cb", 2, "body"),
    ("vfmadd231ps zmm{k}{z},zmm,zmm", "62f26dc9b8cb", 4, "body"),
    ("vfmadd231ps zmm,zmm,[m]{1to16}", "62f26d58b808", 3, "body"),
    ("vpermd zmm,zmm,zmm", "62f26d4836cb", 52, "body"),
    ("kmovw k,r32", "c5f892c8", 7, "body"),
    # vaddps zmm1, zmm2, [rax + rbx*4 + 0x48]: a displacement that is no multiple of the VL
    ("addr base+index*scale+disp", "62f16c48588c9848000000", 3, "address"),
]
_ADDR_MN = {"add", "sub", "lsl", "mov", "movz", "movk", "movn", "adr", "adrp", "madd"}


def count_insns(lines) -> int:
    return sum(1 for l in lines if l and not l.endswith(":") and not l.startswith((".", "//")))


def address_lines(lines) -> int:
    n = 0
    for l in lines:
        parts = l.replace(",", " ").split()
        if len(parts) > 1 and parts[0] in _ADDR_MN and parts[1].startswith("x"):
            n += 1
    return n


def fujitsu_table() -> list[dict]:
    from translator.decode import decode_one
    from translator.lower import Unsupported, lower_snippet
    rows = []
    for label, hx, fj, what in FUJITSU:
        insn = decode_one(bytes.fromhex(hx))
        row = {"form": label, "instance": insn.text, "fujitsu": fj, "what": what}
        for col, kw in (("fast", dict(nan_mode="fast")),
                        ("exact", dict(nan_mode="exact", flags_live_out=frozenset(), outline=True)),
                        ("exact_all_inline", dict(nan_mode="exact"))):
            try:
                s = lower_snippet(insn, **kw)
                row[col] = address_lines(s.body) if what == "address" else count_insns(s.body)
            except Unsupported as ex:
                row[col] = None
                row.setdefault("unsupported", ex.reason)
            except Exception as ex:           # a broken lowering must not stop the benchmark
                row[col] = None
                row.setdefault("unsupported", f"{type(ex).__name__}: {ex}")
        worse = []
        if fj is not None:
            for col in ("fast", "exact"):
                if row[col] is not None and row[col] > fj:
                    worse.append(col)
        row["worse_than_fujitsu"] = worse
        rows.append(row)
    return rows


class Collector:
    """Accumulates, per translated kernel, the quality numbers (called untimed)."""

    def __init__(self):
        self.x86 = 0
        self.translated = 0
        self.arm = 0
        self.inline = 0
        self.forms: dict[str, list] = {}          # form -> [count, inline A64, translated count]
        self.kernels: list[dict] = []
        self.classes: Counter = Counter()

    def __call__(self, name: str, t) -> None:
        s = t.stats
        self.x86 += s["x86_instructions"]
        self.translated += s["translated"]
        self.arm += s["arm_instructions"]
        self.inline += s["arm_inline_instructions"]
        bad = {a for a, *_ in t.unsupported}
        body: list[str] = []
        for insn, lines in t.lines:
            if insn is None:
                continue
            f = self.forms.setdefault(insn.form, [0, 0, 0])
            f[0] += 1
            if insn.address in bad:
                continue
            f[1] += count_insns(lines)
            f[2] += 1
            body += lines
        cls = a64fx.classify_lines(body)
        self.classes.update(cls)
        self.kernels.append({"kernel": name, "x86": s["x86_instructions"], "translated": s["translated"],
                             "arm": s["arm_instructions"], "inline": s["arm_inline_instructions"],
                             "cycles": a64fx.estimate(cls)})

    def summary(self) -> dict:
        tr = self.translated or 1
        return {"x86_instructions": self.x86, "translated": self.translated,
                "coverage": self.translated / self.x86 if self.x86 else None,
                "arm_instructions": self.arm, "arm_inline_instructions": self.inline,
                "a64_per_x86": self.arm / tr if self.translated else None,
                "a64_inline_per_x86": self.inline / tr if self.translated else None,
                "a64fx_cycles": round(a64fx.estimate(self.classes), 1),
                "a64fx_cycles_per_x86": a64fx.estimate(self.classes) / tr if self.translated else None}


def form_table(exact: Collector, fast: Optional[Collector], top: int = 30) -> list[dict]:
    rows = []
    for form, (n, a, k) in sorted(exact.forms.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]:
        fa = fast.forms.get(form) if fast else None
        rows.append({"form": form, "count": n, "translated": k,
                     "exact_inline_per_x86": a / k if k else None,
                     "fast_inline_per_x86": (fa[1] / fa[2]) if fa and fa[2] else None})
    return rows
