"""Dynamic code quality: A64 instructions executed per x86 instruction executed, for the real
kernels translator/e2e runs (their own argument structs and data), translated in both NaN modes.

The translated kernel runs under ``qemu-aarch64 -singlestep -d exec,nochain``, which logs every
executed instruction's address. Each A64 line of the translation has a known offset from the
``kernel`` symbol (instructions are 4 bytes; ``.byte``/``.word`` data and ``.balign`` are laid
out as GNU as does), and ``Translation.spans`` says which lines belong to which x86 instruction.
So the executed x86 instructions are counted without an x86 tracer: an x86 instruction ran as
often as the first A64 instruction of its body (an empty body, e.g. the second and third
instruction of a fused int8 dot triple, counts as its straight-line neighbour). A64 executed =
every instruction of the x86 bodies and the out-of-line slow paths (the AAPCS64 prologue and
epilogue around the kernel are left out).
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from typing import Optional

KEYS = ["eltwise_exp", "softmax", "brgemm_beta1", "conv_fwd", "conv_1x1", "conv_int8_w7",
        "conv_int8_1x1_w7", "pool_max", "lnorm"]
SMOKE_KEYS = ["eltwise_exp", "conv_int8_1x1_w7"]
_TRACE = re.compile(rb"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
_DATA = {".byte": 1, ".hword": 2, ".short": 2, ".word": 4, ".long": 4, ".quad": 8, ".xword": 8}


def line_offsets(lines: list[str], symbol: str = "kernel") -> list[Optional[int]]:
    """For each assembly line: its byte offset from ``symbol:`` if it is an instruction, else
    None. Raises ValueError on a directive it does not know how to size."""
    out: list[Optional[int]] = []
    off, started = 0, False
    for line in lines:
        s = line.strip()
        if s == f"{symbol}:":
            started, off = True, 0
        if not s or s.startswith("//") or s.endswith(":") or not started:
            out.append(None)
            continue
        if s.startswith("."):
            name, _, rest = s.partition(" ")
            if name in _DATA:
                off += _DATA[name] * len([x for x in rest.split(",") if x.strip()])
            elif name in (".balign", ".p2align", ".align"):
                n = int(rest.split(",")[0], 0)
                n = n if name == ".balign" else 1 << n
                off = (off + n - 1) // n * n
            elif name not in (".text", ".globl", ".type", ".size", ".section"):
                raise ValueError(f"cannot size {s!r}")
            out.append(None)
            continue
        out.append(off)
        off += 4
    return out


def pc_counts(asm: str, request, timeout: float = 120.0) -> tuple[Counter, int]:
    """(executed instruction count per offset from ``kernel``, the kernel's address) of one run."""
    from translator.e2e import runners
    exe = runners.build_kernel(asm)         # cached: the one run_qemu runs
    nm = subprocess.run(["aarch64-linux-gnu-nm", exe], capture_output=True, text=True, check=True).stdout
    base = next(int(l.split()[0], 16) for l in nm.splitlines() if l.endswith(" kernel"))
    with tempfile.TemporaryDirectory(prefix="x2sve-dyn-") as d:
        log = os.path.join(d, "log")
        runners.run_qemu(asm, request, timeout, exec_log=log)
        hits: Counter = Counter()
        with open(log, "rb") as f:
            for line in f:
                m = _TRACE.match(line)
                if m:
                    hits[int(m.group(1), 16) - base] += 1
    return hits, base


def count(t, hits: Counter) -> dict:
    """Executed x86 and A64 instructions of one run of translation ``t``."""
    lines = t._asm_lines
    offs = line_offsets(lines)
    rows = sorted((i for i, _ in t.lines if i is not None and i.address in t.spans), key=lambda i: i.address)
    x86_runs: list[Optional[int]] = []
    body_a64 = 0
    for insn in rows:
        a, b = t.spans[insn.address]
        firsts = [offs[k] for k in range(a, b) if offs[k] is not None]
        x86_runs.append(hits[firsts[0]] if firsts else None)
        body_a64 += sum(hits[offs[k]] for k in range(a, b) if offs[k] is not None)
    for n, v in enumerate(x86_runs):      # an empty body runs as often as its neighbour
        if v is None:
            near = [x86_runs[m] for m in (n - 1, n + 1) if 0 <= m < len(x86_runs) and x86_runs[m] is not None]
            x86_runs[n] = near[0] if near else 0
    slow = 0
    if "// out-of-line slow paths" in lines:
        k0 = lines.index("// out-of-line slow paths")
        slow = sum(hits[o] for o in offs[k0:] if o is not None)
    x86 = sum(x86_runs)
    return {"x86": x86, "a64_inline": body_a64, "a64_slow": slow,
            "a64_per_x86": (body_a64 + slow) / x86 if x86 else None}


def run(smoke: bool = False) -> dict:
    """Every kernel of KEYS (SMOKE_KEYS with ``smoke``) in both NaN modes."""
    import numpy as np
    from translator.e2e import KERNELS, corpus_jitdump, load_kernel, qemu_missing
    from translator.translate import translate
    why = qemu_missing() or (None if corpus_jitdump() is not None else "oneDNN jitdump not found")
    if why:
        return {"skipped": why}
    out: dict = {"kernels": {}}
    tot = {m: Counter() for m in ("fast", "exact")}
    t0 = time.time()
    for key in SMOKE_KEYS if smoke else KEYS:
        spec = KERNELS[key]
        k = load_kernel(spec)
        case = spec.make(np.random.default_rng(0))
        row = {}
        for mode in ("fast", "exact"):
            t = translate(k.code, base=k.address, symbol="kernel", nan_mode=mode)
            hits, _ = pc_counts(t.asm(), case.request)
            c = count(t, hits)
            row[mode] = c
            tot[mode].update({n: c[n] for n in ("x86", "a64_inline", "a64_slow")})
        out["kernels"][key] = row
    for mode, c in tot.items():
        out[mode] = {**c, "a64_per_x86": (c["a64_inline"] + c["a64_slow"]) / c["x86"] if c["x86"] else None}
    out["seconds"] = time.time() - t0
    return out
