"""``x2sve verify``: prove every mapping-table form by differential testing.

``add_verify_arguments(parser)`` adds the options of ../shared/interface.md to an argparse parser;
``run_verify(args) -> int`` runs them (exit 0 exactly when no state mismatched). Forms that the
model does not know or that the lowering refuses are *skipped* and listed with their reason; they
never count as passed. With ``--jobs J`` forms are split over J forked processes.

Reproducing a failure: each failure carries ``seed``, ``state`` and a ``reproduce`` command; states
of a form depend only on (seed, form name, --states), not on --jobs or --only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Optional

__all__ = ["add_verify_arguments", "run_verify"]


def add_verify_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--states", type=int, default=64, metavar="N", help="random states per form (default 64)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--only", metavar="REGEX", help="only forms whose names match (re.search)")
    p.add_argument("--jobs", type=int, default=1, metavar="J", help="worker processes (default 1)")
    p.add_argument("--vl", type=int, default=512, metavar="BITS", help="SVE vector length (default 512)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--dump-cases", metavar="FILE", help="write one JSON line per case run")
    p.add_argument("--nan-mode", choices=("exact", "fast"), default="exact",
                   help="exact: bit-exact NaNs; fast: NaN lanes may differ in payload/sign only")
    p.add_argument("--oracle", choices=("model", "native", "bochs"), default="model",
                   help="x86 side: model (default, the numpy reference model), native (this CPU) or "
                        "bochs (bochs 2.7 tigerlake); falls back to the model, with a note, where "
                        "the executor cannot run an instruction (see translator/verify/oracle.py)")
    p.add_argument("--list", action="store_true", help="list the forms (and instance counts) and exit")
    p.add_argument("--progress", action="store_true", help="progress lines on stderr even if not a tty")
    p.add_argument("--tables", metavar="DIR", help=argparse.SUPPRESS)          # tests: other tables
    p.add_argument("--max-failures", type=int, default=3, help=argparse.SUPPRESS)
    return p


# ---- worker side (fork) ---------------------------------------------------------------------
_G: dict = {}


def _worker_run(idx: list[int]) -> list[dict]:
    from .harness import Harness
    h = _G.get("harness")
    if h is None:
        dump = None
        if _G["dump"]:
            dump = open(f"{_G['dump']}.part{os.getpid()}", "a")
            _G["dump_file"] = dump
        kw = dict(vl=_G["vl"], nan_mode=_G["nan_mode"], tables=_G["tables"],
                  seed=_G["seed"], states=_G["states"], dump=dump,
                  max_failures=_G["max_failures"])
        if _G.get("oracle", "model") != "model":
            from .oracle import OracleHarness
            h = _G["harness"] = OracleHarness(_G["oracle"], **kw)
        else:
            h = _G["harness"] = Harness(**kw)
    out = []
    if _G.get("oracle", "model") != "model":           # one executor batch for the chunk
        out = [r.to_json() for r in h.run_forms([_G["forms"][i] for i in idx])]
        if h.dump is not None:
            h.dump.flush()
        return out
    for i in idx:
        out.append(h.run_form(_G["forms"][i]).to_json())
    if h.dump is not None:
        h.dump.flush()
    return out


def _err(msg: str) -> int:
    print(f"x2sve verify: {msg}", file=sys.stderr)
    return 2


def run_verify(args) -> int:
    from ..lower.tables import TableError, default_tables, load_tables
    from .arm_exec import VALID_VLS
    from .forms import enumerate_forms

    g = lambda name, d=None: getattr(args, name, d)  # noqa: E731  (namespace from another parser)
    n_states, seed, vl = g("states", 64), g("seed", 0), g("vl", 512)
    jobs = max(1, g("jobs", 1) or 1)
    if n_states is None or n_states < 1:
        return _err("--states must be at least 1")
    if vl not in VALID_VLS:
        return _err(f"--vl must be a multiple of 128 in 128..2048, got {vl}")
    only = g("only")
    if only:
        try:
            re.compile(only)
        except re.error as e:
            return _err(f"--only: bad regular expression: {e}")
    try:
        tables = load_tables(g("tables")) if g("tables") else default_tables()
    except TableError as e:
        print(f"x2sve verify: {e}", file=sys.stderr)
        return 1
    forms = enumerate_forms(tables, seed=seed, only=only)
    if g("list"):
        if g("json"):
            print(json.dumps({"forms": {k: len(f.instances) for k, f in forms.items()}}))
        else:
            for k, f in forms.items():
                print(f"{k:60s} {f.entry.name:16s} {len(f.instances)} instances")
            print(f"{len(forms)} forms")
        return 0
    names = list(forms)
    flist = [forms[k] for k in names]
    dump_path = g("dump_cases")
    oracle = g("oracle", "model") or "model"
    group = 64 if oracle == "bochs" else 1          # forms per executor batch (bochs: per boot)
    show_progress = g("progress") or sys.stderr.isatty()
    t0 = time.perf_counter()
    results: list[dict] = []
    every = max(1, len(flist) // 20)

    def progress(done: int) -> None:
        if show_progress and (done % every == 0 or done == len(flist)):
            s = sum(r["states"] for r in results)
            m = sum(r["mismatches"] for r in results)
            dt = time.perf_counter() - t0
            print(f"verify: {done}/{len(flist)} forms, {s} states, {m} mismatches, {dt:.1f}s",
                  file=sys.stderr, flush=True)

    try:
        if jobs == 1 or len(flist) <= 1:
            from .harness import Harness
            dump = open(dump_path, "w") if dump_path else None
            try:
                kw = dict(vl=vl, nan_mode=g("nan_mode", "exact") or "exact", tables=tables, seed=seed,
                          states=n_states, dump=dump, max_failures=g("max_failures", 3) or 3)
                if oracle != "model":
                    from .oracle import OracleHarness
                    with OracleHarness(oracle, **kw) as h:
                        for i in range(0, len(flist), group):
                            results.extend(r.to_json() for r in h.run_forms(flist[i:i + group]))
                            progress(len(results))
                else:
                    h = Harness(**kw)
                    for i, f in enumerate(flist):
                        results.append(h.run_form(f).to_json())
                        progress(i + 1)
            finally:
                if dump:
                    dump.close()
        else:
            import multiprocessing as mp
            _G.update(forms=flist, vl=vl, nan_mode=g("nan_mode", "exact") or "exact", tables=tables,
                      seed=seed, states=n_states, dump=dump_path, max_failures=g("max_failures", 3) or 3,
                      oracle=oracle)
            _G.pop("harness", None)
            if dump_path:
                open(dump_path, "w").close()
            chunks = [list(range(i, min(i + group, len(flist)))) for i in range(0, len(flist), group)]
            ctx = mp.get_context("fork")
            with ctx.Pool(jobs) as pool:
                for part in pool.imap_unordered(_worker_run, chunks):
                    results.extend(part)
                    progress(len(results))
                pool.close()
                pool.join()
            if dump_path:
                _merge_parts(dump_path)
    except OSError as e:
        print(f"x2sve verify: {e}", file=sys.stderr)
        return 1
    order = {k: i for i, k in enumerate(names)}
    results.sort(key=lambda r: order[r["form"]])
    return _report(results, args, time.perf_counter() - t0, seed, vl, g("nan_mode", "exact") or "exact",
                   oracle)


def _merge_parts(path: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path) + ".part"
    with open(path, "a") as out:
        for name in sorted(os.listdir(d)):
            if name.startswith(base) and name[len(base):].isdigit():
                p = os.path.join(d, name)
                with open(p) as f:
                    for chunk in iter(lambda: f.read(1 << 20), ""):
                        out.write(chunk)
                os.unlink(p)


def _report(results: list[dict], args, seconds: float, seed: int, vl: int, nan_mode: str,
            oracle: str = "model") -> int:
    ran = [r for r in results if r["skipped"] is None]
    skipped = [r for r in results if r["skipped"] is not None]
    S = sum(r["states"] for r in ran)
    M = sum(r["mismatches"] for r in results)
    failures = [f for r in results for f in r["failures"]]
    notes = {r["form"]: r["notes"] for r in results if r["notes"]}
    if getattr(args, "json", False):
        out = {"forms": len(ran), "states": S, "mismatches": M, "failures": failures,
               "skipped": [{"form": r["form"], "reason": r["skipped"]} for r in skipped],
               "excluded_states": sum(r["excluded"] for r in results),
               "notes": notes, "seed": seed, "vl": vl, "nan_mode": nan_mode,
               "seconds": round(seconds, 3), "oracle": oracle,
               "per_form": [{"form": r["form"], "entry": r["entry"], "states": r["states"],
                             "mismatches": r["mismatches"]} for r in ran]}
        if oracle != "model":
            from .oracle import MXCSR_NOTE
            for pf, r in zip(out["per_form"], ran):
                pf["x86_side"] = r.get("x86_side", {})
                pf["model_differs"] = r.get("model_differs", 0)
            out["mxcsr"] = MXCSR_NOTE
        print(json.dumps(out))
    else:
        w = max([len(r["form"]) for r in results] + [4])
        print(f"{'form':{w}s}  {'states':>6s}  {'mism':>5s}  status")
        for r in results:
            if r["skipped"] is not None:
                status = "SKIPPED: " + r["skipped"]
            elif r["mismatches"]:
                status = "FAIL"
            else:
                status = "ok"
            print(f"{r['form']:{w}s}  {r['states']:6d}  {r['mismatches']:5d}  {status}")
        for f in failures:
            print(f"\nFAIL {f['form']}  state {f['state']}  x86 {f.get('x86_code')} ({f.get('instruction')})")
            if f.get("register") == "assemble":
                print(f"  the translation does not assemble: {f.get('error')}")
            else:
                print(f"  {f['register']}: x86 {f['x86_value']}  arm {f['arm_value']}"
                      + (f"  ({f['note']})" if f.get("note") else ""))
            if f.get("arm_asm"):
                print("  arm: " + "; ".join(f["arm_asm"]))
            if f.get("reproduce"):
                print(f"  reproduce: {f['reproduce']}")
        for form, ns in notes.items():
            for n in ns:
                print(f"note: {form}: {n}")
        if oracle != "model":
            from .oracle import summary_lines
            for line in summary_lines(results, oracle):
                print(line)
        rate = S / seconds if seconds > 0 else 0.0
        print(f"\n{len(ran)} forms, {S} states, {M} mismatches, {len(skipped)} forms skipped "
              f"({seconds:.1f}s, {rate:.0f} states/s; seed {seed}, VL {vl}, nan-mode {nan_mode}"
              + (f", oracle {oracle})" if oracle != "model" else ")"))
    return 0 if M == 0 else 1
