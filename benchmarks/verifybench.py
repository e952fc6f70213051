"""Verification throughput: random states per second through the differential harness
(translator.verify.harness), and the wall time of ``x2sve verify --states 1000 --jobs 2``."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from .corpus import ROOT

FORMS = ["vaddps zmm, zmm, zmm", "vfmadd231ps zmm, zmm, zmm", "vmulps zmm{k}, zmm, zmm",
         "vfmadd231ps zmm, zmm, m32bcst", "vmaxps zmm{k}{z}, zmm, zmm"]


def _harness_rate(states: int, nan_mode: str) -> dict:
    import re
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    rx = "^(" + "|".join(re.escape(f) for f in FORMS) + ")$"
    forms = enumerate_forms(only=rx)
    h = Harness(states=states, nan_mode=nan_mode)
    n = mism = 0
    sec = 0.0
    per = {}
    for name, f in forms.items():
        t0 = time.perf_counter()
        r = h.run_form(f)
        dt = time.perf_counter() - t0
        sec += dt
        n += r.states
        mism += r.mismatches
        per[name] = {"states": r.states, "seconds": round(dt, 4), "skipped": r.skipped}
    return {"method": "translator.verify.harness.Harness.run_form", "forms": per, "states": n,
            "mismatches": mism, "seconds": sec, "states_per_s": n / sec if sec else None}


def _direct_rate(states: int) -> dict:
    """Fallback without the harness: lower + assemble once, then model + ArmRunner per state."""
    import numpy as np
    from translator.decode import decode_one
    from translator.encode import assemble
    from translator.lower import lower_snippet
    from translator.verify import x86_model as model
    from translator.verify.arm_exec import ArmRunner
    from translator.verify.state import X86State
    runner = ArmRunner(512)
    insn = decode_one(bytes.fromhex("62f16c4858cb"))
    code = assemble(lower_snippet(insn).lines)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(states):
        st = X86State()
        model.execute(insn, st)
        a = runner.new_state()
        for z in range(4):
            a.z[z] = rng.bytes(64)
        runner.run(code, a)
    dt = time.perf_counter() - t0
    return {"method": "direct ArmRunner + x86 model (harness unavailable)", "states": states,
            "mismatches": None, "seconds": dt, "states_per_s": states / dt}


def cli_wall_time(states: int = 1000, jobs: int = 2, timeout: int = 3600) -> dict:
    try:
        import translator.cli  # noqa: F401
    except Exception as ex:
        return {"command": f"x2sve verify --states {states} --jobs {jobs}", "seconds": None,
                "skipped": f"translator.cli not importable: {type(ex).__name__}: {ex}"}
    args = ["verify", "--states", str(states), "--jobs", str(jobs)]
    code = "import sys; from translator.cli import main; sys.argv = ['x2sve'] + sys.argv[1:]; sys.exit(main())"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code] + args, cwd=ROOT, env=env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired:
        return {"command": "x2sve " + " ".join(args), "seconds": None, "skipped": f"timed out after {timeout}s"}
    dt = time.perf_counter() - t0
    tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
    return {"command": "x2sve " + " ".join(args), "seconds": dt, "exit_code": p.returncode, "tail": tail}


def run(smoke: bool) -> dict:
    states = 40 if smoke else 400
    try:
        out = _harness_rate(states, "exact")
    except Exception as ex:
        try:
            out = _direct_rate(states)
            out["harness_error"] = f"{type(ex).__name__}: {ex}"
        except Exception as ex2:
            out = {"method": None, "states_per_s": None, "skipped": f"{type(ex).__name__}: {ex}; {ex2}"}
    out["cli"] = None if smoke else cli_wall_time()
    return out
