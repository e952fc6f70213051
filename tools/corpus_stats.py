#!/usr/bin/env python3
"""Histogram of reached instruction forms and mnemonics over a corpus of JIT kernels.

    python tools/corpus_stats.py ../shared/corpus/onednn-avx512-core [--top 150]
    python tools/corpus_stats.py ../shared/corpus/jitdump/onednn-avx512-core.jit.dump

Input: a folder of raw kernels (``*.bin``, walked from offset 0 at an inferred load address) or
a perf jitdump file (walked at each kernel's load address). Only code that control flow reaches
is counted. Prints the ``--top`` forms and mnemonics with count, % and cumulative %, and writes
the full tables to ``tools/out/<name>.forms.tsv``, ``<name>.mnemonics.tsv`` and ``<name>.json``.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from translator.decode.flow import infer_base, walk  # noqa: E402
from translator.decode.jitdump import is_jitdump, read_jitdump  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def kernels(src: Path):
    if src.is_dir():
        for f in sorted(src.glob("*.bin")):
            code = f.read_bytes()
            yield f.name, code, infer_base(code) or 0
    else:
        data = src.read_bytes()
        if not is_jitdump(data):
            yield src.name, data, infer_base(data) or 0
            return
        for k in read_jitdump(data):
            yield f"{k.name}@{k.address:#x}", k.code, k.address


def table(counter: collections.Counter, top: int | None):
    total = sum(counter.values())
    rows = []
    cum = 0
    for i, (key, n) in enumerate(counter.most_common()):
        cum += n
        rows.append((i + 1, key, n, 100.0 * n / total, 100.0 * cum / total))
    return rows if top is None else rows[:top]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="folder of *.bin kernels or a jitdump file")
    ap.add_argument("--top", type=int, default=150, help="rows to print (default 150)")
    ap.add_argument("--name", help="output file stem (default: source name)")
    args = ap.parse_args(argv)

    forms = collections.Counter()
    mnems = collections.Counter()
    encs = collections.Counter()
    nk = nbytes = ncode = 0
    errors = []
    unresolved = 0
    for name, code, base in kernels(args.source):
        p = walk(code, base)
        nk += 1
        nbytes += len(code)
        ncode += p.code_bytes
        unresolved += len(p.unresolved)
        errors += [f"{name}: {e}" for e in p.errors]
        for i in p.insns.values():
            try:
                forms[i.form] += 1
            except TypeError:       # an operand the IR has no shape for
                forms[f"{i.mnemonic} <{i.text}>"] += 1
            mnems[i.mnemonic] += 1
            encs[i.encoding] += 1

    ninsn = sum(mnems.values())
    head = (f"# {args.source.name}: {nk} kernels, {nbytes} bytes, {ncode / max(nbytes, 1):.1%} reached "
            f"as code, {ninsn} instructions, {len(mnems)} mnemonics, {len(forms)} forms, "
            f"{len(errors)} errors, {unresolved} unresolved indirect jumps\n"
            f"# encodings: " + ", ".join(f"{k} {v} ({100 * v / ninsn:.1f}%)" for k, v in encs.most_common()))
    print(head)
    for e in errors[:20]:
        print("# error:", e)
    for title, counter in (("forms", forms), ("mnemonics", mnems)):
        print(f"\n## top {args.top} {title}\n{'rank':>4}  {'count':>6}  {'%':>6}  {'cum%':>6}  {title[:-1]}")
        for rank, key, n, pct, cum in table(counter, args.top):
            print(f"{rank:>4}  {n:>6}  {pct:6.2f}  {cum:6.2f}  {key}")

    OUT.mkdir(exist_ok=True)
    ign = OUT / ".gitignore"
    if not ign.exists():
        ign.write_text("*\n")
    stem = args.name or args.source.name.replace(".jit.dump", "").replace(".", "_")
    for title, counter in (("forms", forms), ("mnemonics", mnems)):
        with open(OUT / f"{stem}.{title}.tsv", "w") as fh:
            fh.write(head + "\nrank\tcount\tpct\tcum_pct\t" + title[:-1] + "\n")
            for rank, key, n, pct, cum in table(counter, None):
                fh.write(f"{rank}\t{n}\t{pct:.3f}\t{cum:.3f}\t{key}\n")
    with open(OUT / f"{stem}.json", "w") as fh:
        json.dump({"source": str(args.source), "kernels": nk, "bytes": nbytes, "code_bytes": ncode,
                   "instructions": ninsn, "errors": errors, "unresolved_indirect": unresolved,
                   "encodings": dict(encs), "forms": dict(forms.most_common()),
                   "mnemonics": dict(mnems.most_common())}, fh, indent=1)
    print(f"\n# wrote {OUT}/{stem}.forms.tsv, {stem}.mnemonics.tsv, {stem}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
