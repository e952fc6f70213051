"""Reference assembly through ``llvm-mc`` (tests and cross-checks; not used at run time)."""
from __future__ import annotations

import re
import shutil
import subprocess

LLVM_MC = shutil.which("llvm-mc") or shutil.which("llvm-mc-14")
MATTR = "+sve,+sve2,+bf16,+flagm,+lse"
_ENC_RE = re.compile(r"encoding: \[([^\]]*)\]")
_ERR_RE = re.compile(r"^<stdin>:(\d+):\d+: error: (.*)$")


def available() -> bool:
    return LLVM_MC is not None


def llvm_mc_try(lines, mattr: str = MATTR):
    """Assemble each line separately in ONE llvm-mc run.

    Returns a list with, per input line, the 32-bit word or an error string.
    Every line must hold exactly one instruction.
    """
    if LLVM_MC is None:
        raise RuntimeError("llvm-mc not found")
    lines = [l.replace("\n", " ") for l in lines]
    src = "\n".join(lines) + "\n"
    p = subprocess.run([LLVM_MC, "-triple=aarch64", f"-mattr={mattr}", "-show-encoding"],
                       input=src, capture_output=True, text=True)
    errors = {}
    for l in p.stderr.splitlines():
        m = _ERR_RE.match(l)
        if m:
            errors.setdefault(int(m.group(1)) - 1, m.group(2))
    encs = []
    for l in p.stdout.splitlines():
        m = _ENC_RE.search(l)
        if m:
            bs = [int(b, 16) for b in m.group(1).split(",")]
            encs.append(int.from_bytes(bytes(bs), "little"))
    out = []
    it = iter(encs)
    for i, _ in enumerate(lines):
        if i in errors:
            out.append("error: " + errors[i])
        else:
            w = next(it, None)
            out.append(w if w is not None else "error: no output")
    if next(it, None) is not None:
        raise RuntimeError("llvm-mc produced more encodings than lines")
    return out


def llvm_mc_assemble(lines, mattr: str = MATTR) -> list[int]:
    """Words for ``lines`` (one instruction each); raises ValueError on any error."""
    res = llvm_mc_try(lines, mattr)
    for l, r in zip(lines, res):
        if isinstance(r, str):
            raise ValueError(f"llvm-mc: {l!r}: {r}")
    return res
