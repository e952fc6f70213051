"""``python -m benchmarks [--smoke] [--json PATH|-]``: run every section, print the tables."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from . import a64fx, corpus, dynamic, memory, quality, throughput, verifybench

GOAL_RATIO = 0.25
GOAL_EXPANSION = 1.3


def collect(smoke: bool) -> dict:
    t_start = time.perf_counter()
    res: dict = {"mode": "smoke" if smoke else "full", "python": platform.python_version(),
                 "corpus": str(corpus.corpus_dir()) if corpus.corpus_dir() else None}
    a512 = corpus.load(corpus.AVX512, smoke)
    a2 = corpus.load(corpus.AVX2, smoke)
    coll = {("avx512", "exact"): quality.Collector()}
    res["throughput"] = throughput.run(a512, smoke, each=coll[("avx512", "exact")])
    speeds = {}
    for cname, files in (("avx512", a512), ("avx2", a2)):
        for mode in ("exact", "fast"):
            if (cname, mode) in coll:
                continue
            c = coll[(cname, mode)] = quality.Collector()
            if files:
                throughput.clear_caches()
                r = throughput.translate_corpus(files, mode, each=c)
                speeds[f"{cname}/{mode}"] = r["x86_instructions"] / r["seconds"] if r["seconds"] else None
    res["throughput"]["cold_insns_per_s_by_corpus"] = speeds
    q = {}
    for (cname, mode), c in coll.items():
        q.setdefault(cname, {})[mode] = c.summary() if c.x86 else None
    if a512:                    # what the peephole passes (lower/peephole.py) save
        for mode in ("exact", "fast"):
            c = quality.Collector()
            throughput.translate_corpus(a512, mode, each=c, peephole=False)
            q["avx512"][mode + "_no_peephole"] = c.summary() if c.x86 else None
    res["quality"] = q
    res["fujitsu"] = quality.fujitsu_table()
    res["forms"] = quality.form_table(coll[("avx512", "exact")], coll[("avx512", "fast")])
    kern = {}
    for mode in ("exact", "fast"):
        for k in coll[("avx512", mode)].kernels:
            kern.setdefault(k["kernel"], {"kernel": k["kernel"], "x86": k["x86"], "translated": k["translated"]})
            kern[k["kernel"]][f"a64_{mode}"] = k["inline"]
            kern[k["kernel"]][f"cycles_{mode}"] = round(k["cycles"], 1)
    res["a64fx"] = {"classes": a64fx.table(),
                    "kernels": sorted(kern.values(), key=lambda r: -r["x86"])[: (5 if smoke else 12)],
                    "source": "Fujitsu A64FX Microarchitecture Manual v1.3 (github.com/fujitsu/A64FX); "
                              "approximate, resource-bound, no dependency chains"}
    try:                        # executed instructions of real kernels under qemu (e2e data)
        res["dynamic"] = dynamic.run(smoke)
    except Exception as ex:     # a missing tool must not stop the other sections
        res["dynamic"] = {"skipped": f"{type(ex).__name__}: {ex}"}
    res["verify"] = verifybench.run(smoke)
    res["memory"] = memory.run(a512)
    res["goals"] = {
        "throughput_ratio": {"goal": f">= {GOAL_RATIO}", "value": res["throughput"].get("ratio"),
                             "met": _ge(res["throughput"].get("ratio"), GOAL_RATIO)},
        "avx512_a64_per_x86_fast_inline": {
            "goal": f"<= {GOAL_EXPANSION}",
            "value": _get(q, "avx512", "fast", "a64_inline_per_x86"),
            "met": _le(_get(q, "avx512", "fast", "a64_inline_per_x86"), GOAL_EXPANSION)},
        "avx512_a64_per_x86_exact_inline": {
            "goal": f"<= {GOAL_EXPANSION}",
            "value": _get(q, "avx512", "exact", "a64_inline_per_x86"),
            "met": _le(_get(q, "avx512", "exact", "a64_inline_per_x86"), GOAL_EXPANSION)},
        "fujitsu_rows_worse": [r["form"] for r in res["fujitsu"] if r["worse_than_fujitsu"]],
    }
    res["seconds"] = time.perf_counter() - t_start
    return res


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def _ge(v, g):
    return None if v is None else v >= g


def _le(v, g):
    return None if v is None else v <= g


# ---------------------------------------------------------------------------------------------
def _f(v, nd=2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if 0 < abs(v) < 0.1:
            return f"{v:.4f}"
        return f"{v:.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(title: str, head: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in head]] + [[_f(c) if not isinstance(c, str) else c for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(head))]
    out = [f"== {title}"]
    for j, r in enumerate(cells):
        out.append("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * x for x in w))
    return "\n".join(out) + "\n"


def render(res: dict) -> str:
    s = []
    tp = res["throughput"]
    g = res["goals"]
    rows = [
        ["translate, AVX-512 corpus, cold caches (x86 insn/s)", tp.get("insns_per_s"), "", ""],
        ["  the same, whole loop incl. deferred GC (x86 insn/s)", tp.get("loop_insns_per_s"), "", ""],
        ["iced-x86 raw decode, same instructions (insn/s)", tp.get("iced_insns_per_s"), "", ""],
        ["ratio translate / iced (cold)", tp.get("ratio"), g["throughput_ratio"]["goal"],
         _met(g["throughput_ratio"]["met"])],
        ["translate, warm caches (x86 insn/s)", tp.get("warm_insns_per_s"), "", ""],
        ["ratio translate / iced (warm)", tp.get("warm_ratio"), "", ""],
        ["translate, same kernels again: whole-kernel cache hits (x86 insn/s)",
         tp.get("repeat_insns_per_s"), "", ""],
        ["ratio translate / iced (kernel cache hits)", tp.get("repeat_ratio"), "", ""],
        ["  kernel cache hits, whole loop incl. deferred GC (x86 insn/s)", tp.get("repeat_loop_insns_per_s"), "", ""],
        ["translate, all caches off, cold (x86 insn/s)", tp.get("uncached_insns_per_s"), "", ""],
    ]
    for k, v in (tp.get("cold_insns_per_s_by_corpus") or {}).items():
        rows.append([f"translate {k}, cold (x86 insn/s)", v, "", ""])
    q = res["quality"]
    for cname in ("avx512", "avx2"):
        for mode in ("exact", "fast"):
            d = _get(q, cname, mode)
            if not d:
                continue
            goal = g["avx512_a64_per_x86_" + mode + "_inline"]["goal"] if cname == "avx512" else ""
            met = _met(g["avx512_a64_per_x86_" + mode + "_inline"]["met"]) if cname == "avx512" else ""
            rows.append([f"A64/x86 {cname} {mode}: static (incl. slow paths)", d["a64_per_x86"], "", ""])
            rows.append([f"A64/x86 {cname} {mode}: inline", d["a64_inline_per_x86"], goal, met])
            off = _get(q, cname, mode + "_no_peephole")
            if off:
                rows.append([f"  {cname} {mode}: inline, peephole passes off", off["a64_inline_per_x86"], "", ""])
            rows.append([f"  {cname} translated / reached x86 insns",
                         f"{d['translated']:,} / {d['x86_instructions']:,}", "", ""])
            rows.append([f"  {cname} {mode}: A64FX est. cycles (inline, 1x each)", d["a64fx_cycles"], "", ""])
    dy = res.get("dynamic") or {}
    if dy.get("skipped"):
        rows.append(["A64/x86 dynamic (e2e kernels under qemu)", f"skipped: {dy['skipped']}", "", ""])
    for mode in ("fast", "exact"):
        if dy.get(mode):
            rows.append([f"A64/x86 dynamic, {len(dy['kernels'])} e2e kernels run, {mode}",
                         dy[mode]["a64_per_x86"], "", ""])
    v = res["verify"]
    rows.append(["verify: random states/s", v.get("states_per_s"), "", ""])
    cli = v.get("cli")
    if cli is not None:
        rows.append([f"verify: wall of `{cli['command']}` (s)",
                     cli.get("seconds") if cli.get("seconds") is not None else cli.get("skipped", "-"), "", ""])
    m = res["memory"]
    rows.append(["peak memory, translate AVX-512 corpus: tracemalloc (MiB)", m.get("tracemalloc_peak_mib"), "", ""])
    rows.append(["process max RSS (MiB)", m.get("maxrss_mib"), "", ""])
    s.append(_table(f"x2sve benchmarks ({res['mode']}, Python {res['python']}, {res['seconds']:.1f} s)",
                    ["metric", "value", "goal", "met"], rows))
    fr = []
    for r in res["fujitsu"]:
        fr.append([r["form"], r["instance"], "unsupported" if r["fujitsu"] is None else r["fujitsu"],
                   _n(r["fast"]), _n(r["exact"]), _n(r["exact_all_inline"]),
                   ("WORSE: " + ",".join(r["worse_than_fujitsu"])) if r["worse_than_fujitsu"] else
                   ("unsupported here" if r["fast"] is None else "ok")])
    s.append(_table("per-form expansion vs Fujitsu (A64 instructions, body only; address row: address arithmetic)",
                    ["form", "instance", "fujitsu", "fast", "exact", "exact all-inline", "flag"], fr))
    s.append(_table("top forms over the AVX-512 corpus (A64 per x86, inline)",
                    ["form", "count", "translated", "exact", "fast"],
                    [[r["form"], r["count"], r["translated"], r["exact_inline_per_x86"], r["fast_inline_per_x86"]]
                     for r in res["forms"]]))
    if dy.get("kernels"):
        s.append(_table("dynamic: executed instructions of real kernels (translator/e2e data, qemu -singlestep)",
                        ["kernel", "x86 executed", "A64 fast", "per x86", "A64 exact", "per x86"],
                        [[k, v["fast"]["x86"], v["fast"]["a64_inline"] + v["fast"]["a64_slow"],
                          v["fast"]["a64_per_x86"], v["exact"]["a64_inline"] + v["exact"]["a64_slow"],
                          v["exact"]["a64_per_x86"]] for k, v in dy["kernels"].items()]))
    a = res["a64fx"]
    s.append(_table("A64FX cost model (approximate; " + a["source"] + ")",
                    ["class", "latency", "per cycle", "pipes", "examples"],
                    [[c["class"], c["latency"], c["per_cycle"], c["pipes"], c["examples"]] for c in a["classes"]]))
    s.append(_table("A64FX estimate per kernel (largest; inline code, each instruction once)",
                    ["kernel", "x86", "translated", "A64 exact", "cycles exact", "A64 fast", "cycles fast"],
                    [[k["kernel"], k["x86"], k["translated"], k.get("a64_exact"), k.get("cycles_exact"),
                      k.get("a64_fast"), k.get("cycles_fast")] for k in a["kernels"]]))
    return "\n".join(s)


def _n(v):
    return "unsupported" if v is None else v


def _met(v):
    return "-" if v is None else ("yes" if v else "NO")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="small subset, seconds (CI)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout only)")
    a = ap.parse_args(argv)
    res = collect(a.smoke)
    if a.json == "-":
        json.dump(res, sys.stdout, indent=1, default=str)
        print()
        return 0
    print(render(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0
