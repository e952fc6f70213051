"""python -m translator.e2e [KEY ...] [--seed N] [--record]: run the end-to-end kernels and print a
summary (native x86 vs numpy, translation, SVE under qemu vs native bit for bit and vs numpy).
``--record`` (AVX-512 host, seed 0) rewrites those kernels' entries of
tests/data/e2e/native_outputs.json, the recorded x86 outputs that hosts without AVX-512 compare to."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import (GOLDEN, KERNELS, E2EError, digest, ReferenceMismatch, bit_diff, load_kernel, native_missing, qemu_missing,
               run_native, run_qemu)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m translator.e2e", description=__doc__)
    ap.add_argument("keys", nargs="*", help=f"kernels (default all): {', '.join(KERNELS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", action="store_true",
                    help="write the native outputs of these kernels to tests/data/e2e/native_outputs.json")
    a = ap.parse_args(argv)
    if a.record:
        return _record(a.keys or list(KERNELS), a.seed)
    from ..translate import UnsupportedError, translate
    bad = 0
    no_nat, no_q = native_missing(), qemu_missing()
    for key in a.keys or list(KERNELS):
        spec = KERNELS[key]
        k = load_kernel(spec)
        case = spec.make(np.random.default_rng(a.seed))
        names = [o.buffer for o in case.outputs]
        line = [f"{key:<18}"]
        nat = None
        if no_nat:
            line.append(f"native: skipped ({no_nat})")
        else:
            try:
                nat = run_native(k.code, k.address, case.request)
                case.check_reference(nat, "native")
                line.append("native~numpy ok")
            except (E2EError, ReferenceMismatch) as ex:
                line.append(f"native FAIL: {ex}")
                bad += 1
        t0 = time.time()
        try:
            asm = translate(k.code, base=k.address, symbol="kernel").asm()
        except UnsupportedError as ex:
            ms = sorted({text.split()[0] for _, _, text, _ in ex.items})
            line.append(f"translate: {len(ex.items)} unsupported ({', '.join(ms)})")
            print(" | ".join(line))
            continue
        line.append(f"translate {time.time() - t0:.2f}s")
        if no_q:
            line.append(f"qemu: skipped ({no_q})")
        else:
            try:
                sve = run_qemu(asm, case.request)
                if nat is not None:
                    d = bit_diff(nat, sve, names)
                    line.append("sve==native" if not d else "sve!=native: " + "; ".join(d))
                    bad += bool(d)
                case.check_reference(sve, "sve")
                line.append("sve~numpy ok")
            except (E2EError, ReferenceMismatch) as ex:
                line.append(f"sve FAIL: {ex}")
                bad += 1
        print(" | ".join(line))
    return 1 if bad else 0


def _record(keys: list[str], seed: int) -> int:
    import json
    if seed != 0:
        print("x2sve e2e: --record writes the seed-0 cases the tests use; drop --seed", file=sys.stderr)
        return 2
    why = native_missing()
    if why:
        print(f"x2sve e2e: --record needs native AVX-512: {why}", file=sys.stderr)
        return 2
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    for key in keys:
        spec = KERNELS[key]
        k = load_kernel(spec)
        case = spec.make(np.random.default_rng(0))
        res = run_native(k.code, k.address, case.request)
        case.check_reference(res, f"{key} native")
        golden[key] = {"request": digest(case.request), "outputs": digest(res, [o.buffer for o in case.outputs])}
        print(f"{key}: recorded")
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
