"""Conformance of the x86 reference model against real x86 executors.

``x2sve verify`` trusts ``translator.verify.x86model`` as the meaning of every x86 form; this module
checks that trust.  For every form the mapping tables claim (:mod:`.forms`) it runs the model and a
real executor on the same random states (:mod:`.states`) and compares the results bit for bit:

* zmm0-31, k0-7 and the 16 GPRs;
* RFLAGS CF PF AF ZF SF DF OF, except the bits the model reports as undefined for that case;
* MXCSR control bits (DAZ, exception masks, RC, FZ).  Status-flag differences (IE DE ZE OE UE PE)
  are counted and reported as a note, not as a disagreement: the model computes UE/PE only on its
  exact path;
* the 4 KiB memory window.

Faults: when the executor faults, the model must raise ``X86Fault`` (a different fault kind is a
note).  When only the model faults with #PF (an access outside the window), the executor may have
touched mapped memory that the model does not have: the state is counted as ``skipped``.

Executors (``--oracle``): ``native`` (this CPU, :mod:`translator.oracles.native`), ``bochs``
(:mod:`translator.oracles.bochs`, cpu model tigerlake) or ``auto``: native when /proc/cpuinfo has
every CPUID feature iced-x86 lists for the instruction, else bochs when bochs implements them, else
the form is listed with oracle ``none`` ('no executor').  Each executor runs all of its cases in one
batch (one bochs boot).

Row status: ``ok`` (all states agree), ``differ``, ``unmodelled`` (the model has no semantics),
``no executor``, ``oracle-bug`` (disagrees only where BOCHS.md documents a bochs defect),
``error`` (the executor hung or crashed).  The exit code is 0 iff no row is ``differ``,
``unmodelled`` or ``error``.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import zlib
from dataclasses import dataclass, field

from ..ir import GPR64, Insn
from ..oracles.common import ExceptionResult
from .state import X86State

# ---- CPUID features -> /proc/cpuinfo flags ----------------------------------------------------
# iced-x86 CpuidFeature names whose cpuinfo flag is not simply the lower-case name.
_FLAG_NAME = {
    "SSE3": "pni", "SHA": "sha_ni", "LZCNT": "abm", "CLFSH": "clflush", "CMPXCHG16B": "cx16",
    "X64": "lm", "AVX512_VBMI": "avx512vbmi", "AVX512_IFMA": "avx512ifma", "SSE4_1": "sse4_1",
    "SSE4_2": "sse4_2", "PREFETCHW": "3dnowprefetch", "FPU": "fpu", "MOVBE": "movbe",
}
# features every x86-64 CPU has (no cpuinfo flag, or one that is always present)
_BASELINE = {"INTEL8086", "INTEL186", "INTEL286", "INTEL386", "INTEL486", "CPUID", "MULTIBYTENOP",
             "PAUSE", "CMOV", "X64", "SSE", "SSE2", "FXSR", "TSC", "CX8", "FPU", "FPU287",
             "FPU387", "MMX", "CLFSH", "SEP", "SYSCALL"}
# features bochs 2.7 (cpu model tigerlake) does not implement: #UD there (see oracles/BOCHS.md)
BOCHS_LACKS = {"AVX512_BF16", "AVX512_FP16", "AVX512ER", "AVX512PF", "AVX512_4FMAPS",
               "AVX512_4VNNIW", "AVX_VNNI", "AVX_IFMA", "AVX_NE_CONVERT", "AVX_VNNI_INT8",
               "AVX_VNNI_INT16", "AMX_TILE", "AMX_INT8", "AMX_BF16", "AMX_FP16", "AMX_COMPLEX",
               "SHA512", "SM3", "SM4", "CMPCCXADD", "RAO_INT", "XOP", "FMA4", "TBM", "SSE4A",
               "D3NOW", "D3NOWEXT", "KNC", "MSRLIST", "WRMSRNS", "PREFETCHITI", "LKGS", "FRED"}
# mnemonics where bochs 2.7 is documented (BOCHS.md) to compute wrong results
BOCHS_KNOWN_BUGS = {
    "gf2p8affineqb": "bochs GF2P8AFFINE* results are wrong (BOCHS.md)",
    "gf2p8affineinvqb": "bochs GF2P8AFFINE* results are wrong (BOCHS.md)",
    "vgf2p8affineqb": "bochs GF2P8AFFINE* results are wrong (BOCHS.md)",
    "vgf2p8affineinvqb": "bochs GF2P8AFFINE* results are wrong (BOCHS.md)",
    "vpshufbitqmb": "bochs VPSHUFBITQMB mask bits are wrong (BOCHS.md)",
    "vrcp14ps": "bochs VRCP14PS drops the top bit of denormal results (BOCHS.md)",
    "vrcp14pd": "bochs VRCP14* drops the top bit of denormal results (BOCHS.md)",
    "vrcp14ss": "bochs VRCP14* drops the top bit of denormal results (BOCHS.md)",
    "vrcp14sd": "bochs VRCP14* drops the top bit of denormal results (BOCHS.md)",
    "vrsqrt14ps": "bochs VRSQRT14* of 2^odd gives 1.0 * 2^k, not the table value (BOCHS.md)",
    "vrsqrt14pd": "bochs VRSQRT14* of 2^odd gives 1.0 * 2^k, not the table value (BOCHS.md)",
    "vrsqrt14ss": "bochs VRSQRT14* of 2^odd gives 1.0 * 2^k, not the table value (BOCHS.md)",
    "vrsqrt14sd": "bochs VRSQRT14* of 2^odd gives 1.0 * 2^k, not the table value (BOCHS.md)",
    "vpbroadcastb": "bochs masked VPBROADCASTB zmm{k}, m8 ignores the mask bits (BOCHS.md); "
                    "native AVX-512 hardware agrees with the model",
}
# EVEX gathers raise #UD under our bochs runner (BOCHS.md); native AVX-512 agrees with the model
for _g in ("vgatherdps", "vgatherdpd", "vpgatherdd", "vpgatherdq"):
    BOCHS_KNOWN_BUGS[_g] = "EVEX gathers raise #UD under bochs 2.7 here (BOCHS.md); native hardware agrees with the model"
for _g in ("vpscatterdd", "vpscatterdq", "vpscatterqd", "vpscatterqq",
           "vscatterdps", "vscatterdpd", "vscatterqps", "vscatterqpd"):
    BOCHS_KNOWN_BUGS[_g] = "EVEX scatters raise #UD under bochs 2.7 here (BOCHS.md); native hardware agrees with the model"
for _g in ("vcvtdq2pd", "vcvtudq2pd", "vcvtps2uqq", "vcvttps2qq", "vcvtps2qq", "vcvttps2uqq"):
    BOCHS_KNOWN_BUGS[_g] = ("bochs 2.7 faults (#PF) on masked-off elements of a widening {k}{z} memory "
                           "source (no fault suppression; BOCHS.md); native hardware agrees with the model")
BOCHS_KNOWN_BUGS.update({
    "vpbroadcastmw2d": "bochs 2.7 leaves the bits above an xmm/ymm destination (BOCHS.md); native agrees with the model",
    "vpbroadcastmb2q": "bochs 2.7 leaves the bits above an xmm/ymm destination (BOCHS.md); native agrees with the model",
    "vpmultishiftqb": "bochs 2.7 VPMULTISHIFTQB bytes are wrong (BOCHS.md); native agrees with the model",
    "vgetmantpd": "bochs 2.7 VGETMANTPD differs in the exponent field of some results (BOCHS.md); "
                  "native agrees with the model",
    "vscalefps": "bochs 2.7 VSCALEF* NaN/denormal results differ (BOCHS.md); native agrees with the model",
    "vscalefpd": "bochs 2.7 VSCALEF* NaN/denormal results differ (BOCHS.md); native agrees with the model",
    "vpconflictd": "bochs 2.7 VPCONFLICT* leaves most conflict bits clear (BOCHS.md); native agrees with the model",
    "vpconflictq": "bochs 2.7 VPCONFLICT* leaves most conflict bits clear (BOCHS.md); native agrees with the model",
})

FLAGS_COMPARED = 0x0CD5          # CF PF AF ZF SF DF OF
MXCSR_STATUS = 0x003F
MXCSR_CONTROL = 0xFFC0
_FLAG_BITS = [(0x1, "CF"), (0x4, "PF"), (0x10, "AF"), (0x40, "ZF"), (0x80, "SF"), (0x400, "DF"),
              (0x800, "OF")]
_MXCSR_BITS = [(0x1, "IE"), (0x2, "DE"), (0x4, "ZE"), (0x8, "OE"), (0x10, "UE"), (0x20, "PE")]


def cpuid_features(raw: bytes) -> list[str]:
    """iced-x86's CpuidFeature names for the instruction encoded by ``raw``."""
    import iced_x86 as ix
    names = _feature_names()
    ins = ix.Decoder(64, raw).decode()
    return [names.get(f, str(f)) for f in ins.cpuid_features()]


_FEATURE_NAMES: dict[int, str] = {}


def _feature_names() -> dict[int, str]:
    if not _FEATURE_NAMES:
        from iced_x86 import CpuidFeature
        _FEATURE_NAMES.update({v: k for k, v in vars(CpuidFeature).items()
                               if k.isupper() and isinstance(v, int)})
    return _FEATURE_NAMES


def host_has(features: list[str], flags: set[str]) -> bool:
    return all(f in _BASELINE or _FLAG_NAME.get(f, f.lower()) in flags for f in features)


def bochs_has(features: list[str]) -> bool:
    return not any(f in BOCHS_LACKS for f in features)


# ---- executors ---------------------------------------------------------------------------------
class Executors:
    """Chooses and lazily starts the real executors."""

    def __init__(self, which: str = "auto", cpu_flags: set[str] | None = None,
                 bochs_ok: bool | None = None, native_ok: bool | None = None):
        from ..oracles import bochs as _bochs
        from ..oracles import native as _native
        self.which = which
        self.flags = _native.cpu_flags() if cpu_flags is None else set(cpu_flags)
        try:
            nat = _native.available() if native_ok is None else native_ok
        except Exception:
            nat = False
        self.native_ok = nat
        # without AVX-512F/BW natively only ymm0-15 are live: EVEX forms need the full state
        self.native_full = nat and {"avx512f", "avx512bw"} <= self.flags
        self.bochs_ok = _bochs.available() if bochs_ok is None else bochs_ok
        self._native = None
        self._bochs = None

    def choose(self, insn: Insn) -> tuple[str | None, str]:
        """('native' | 'bochs' | None, reason when None)."""
        feats = cpuid_features(insn.raw)
        native = (self.native_ok and host_has(feats, self.flags)
                  and (self.native_full or not _needs_full_state(insn)))
        bochs = self.bochs_ok and bochs_has(feats)
        if self.which in ("native", "auto") and native:
            return "native", ""
        if self.which in ("bochs", "auto") and bochs:
            return "bochs", ""
        why = "+".join(f for f in feats if f not in _BASELINE) or "base"
        if self.which == "native":
            return None, f"host lacks {why}" if self.native_ok else "no native x86 runner"
        if self.which == "bochs":
            return None, f"bochs lacks {why}" if self.bochs_ok else "bochs not installed"
        return None, f"no executor for {why}"

    def run(self, name: str, codes: list[bytes], states: list[X86State]) -> list:
        if not states:
            return []
        if name == "native":
            if self._native is None:
                from ..oracles.native import NativeRunner
                self._native = NativeRunner()
            return self._native.run_many(codes, states)
        if self._bochs is None:
            from ..oracles.bochs import BochsRunner
            self._bochs = BochsRunner("tigerlake", batch=max(4096, len(states)))
        self._bochs.batch = max(self._bochs.batch, len(states))
        self._bochs.timeout = 30.0 + 0.01 * len(states)
        return self._bochs.run_many(codes, states)

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None


def _needs_full_state(insn: Insn) -> bool:
    """zmm registers, zmm16-31 or k registers: only the AVX-512 native runner loads those."""
    if insn.encoding == "evex" or insn.mask:
        return True
    for op in insn.ops:
        kind = type(op).__name__
        if kind == "KReg":
            return True
        if kind == "Vec" and (op.bits > 256 or op.index >= 16):
            return True
    return False


# ---- comparison --------------------------------------------------------------------------------
@dataclass
class Verdict:
    kind: str                    # 'agree' | 'differ' | 'skip' | 'unmodelled' | 'error'
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    mxcsr_status: bool = False   # agree except MXCSR status flags


def _bits(v: int, table) -> str:
    return "|".join(n for b, n in table if v & b) or "-"


def _hexdiff(a: bytes, b: bytes) -> str:
    i = next(j for j in range(min(len(a), len(b))) if a[j] != b[j])
    lo = i - i % 16
    return f"byte {i}: model {a[lo:lo + 16].hex()} oracle {b[lo:lo + 16].hex()} (bytes {lo}..{lo + 15})"


def compare(insn: Insn, before: X86State, model, oracle) -> Verdict:
    """``model``: (X86State, undefined-flags mask) or the X86Fault / Unmodelled it raised;
    ``oracle``: the executor's X86State or ExceptionResult."""
    from .x86model import Unmodelled, X86Fault
    if isinstance(model, Unmodelled):
        return Verdict("unmodelled", str(model))
    if isinstance(oracle, ExceptionResult):
        if oracle.vector is None:
            return Verdict("error", f"executor {oracle.name}")
        if isinstance(model, X86Fault):
            notes = [] if model.kind == oracle.name else \
                [f"fault kind: model {model.kind}, oracle {oracle.name}"]
            return Verdict("agree", notes=notes)
        return Verdict("differ", f"oracle raised {oracle.name} (error code {oracle.error_code}), "
                                 f"model did not")
    if isinstance(model, X86Fault):
        if model.kind == "#PF":
            return Verdict("skip", f"model #PF outside the window ({model}), oracle ran")
        return Verdict("differ", f"model raised {model}, oracle did not")
    mod, undef = model
    for i in range(32):
        if bytes(mod.zmm[i]) != bytes(oracle.zmm[i]):
            return Verdict("differ", f"zmm{i} {_hexdiff(bytes(mod.zmm[i]), bytes(oracle.zmm[i]))}")
    for i in range(8):
        if mod.k[i] != oracle.k[i]:
            return Verdict("differ", f"k{i}: model {mod.k[i]:#x} oracle {oracle.k[i]:#x}")
    for r in GPR64:
        if mod.gpr.get(r, 0) != oracle.gpr.get(r, 0):
            return Verdict("differ", f"{r}: model {mod.gpr.get(r, 0):#x} oracle {oracle.gpr.get(r, 0):#x}")
    fm = FLAGS_COMPARED & ~undef
    if (mod.rflags ^ oracle.rflags) & fm:
        return Verdict("differ", f"rflags {_bits((mod.rflags ^ oracle.rflags) & fm, _FLAG_BITS)}: "
                                 f"model {mod.rflags & fm:#x} oracle {oracle.rflags & fm:#x} "
                                 f"(undefined {undef:#x})")
    if (mod.mxcsr ^ oracle.mxcsr) & MXCSR_CONTROL:
        return Verdict("differ", f"mxcsr control: model {mod.mxcsr:#x} oracle {oracle.mxcsr:#x}")
    if bytes(mod.mem) != bytes(oracle.mem):
        return Verdict("differ", f"memory {_hexdiff(bytes(mod.mem), bytes(oracle.mem))}")
    st = (mod.mxcsr ^ oracle.mxcsr) & MXCSR_STATUS
    if st:
        return Verdict("agree", notes=[
            f"mxcsr status {_bits(st, _MXCSR_BITS)}: model {mod.mxcsr & MXCSR_STATUS:#x} "
            f"oracle {oracle.mxcsr & MXCSR_STATUS:#x} (in {before.mxcsr:#x})"], mxcsr_status=True)
    return Verdict("agree")


def run_model(insn: Insn, state: X86State):
    from .x86model import Unmodelled, X86Fault, execute_ex
    try:
        return execute_ex(insn, state)
    except (X86Fault, Unmodelled) as e:
        return e


# ---- the campaign ------------------------------------------------------------------------------
@dataclass
class Row:
    form: str
    oracle: str                  # 'native' | 'bochs' | 'none' | 'mixed'
    states: int = 0              # states run on an executor
    agree: int = 0
    differ: int = 0
    skipped: int = 0             # model #PF outside the window, executor ran
    status: str = "ok"
    first_difference: str = ""
    mxcsr_status_notes: int = 0  # agreeing states whose MXCSR status flags differ
    mxcsr_status_bits: int = 0   # which status flags differed (OR over those states)
    mxcsr_status_example: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"form": self.form, "oracle": self.oracle, "states": self.states,
                "agree": self.agree, "differ": self.differ, "skipped": self.skipped,
                "status": self.status, "first_difference": self.first_difference,
                "mxcsr_status_notes": self.mxcsr_status_notes,
                "mxcsr_status_flags": _bits(self.mxcsr_status_bits, _MXCSR_BITS)
                if self.mxcsr_status_bits else "",
                "mxcsr_status_example": self.mxcsr_status_example, "notes": self.notes}


@dataclass
class Case:
    form: str
    text: str                    # the concrete instruction (Intel syntax)
    insn: Insn
    state: X86State
    index: int                   # state number within the form


FAILING = ("differ", "unmodelled", "error")
_RANK = {"ok": 0, "differ": 1, "error": 2, "unmodelled": 3}


def _note(row: Row, text: str) -> None:
    if text not in row.notes and len(row.notes) < 4:
        row.notes.append(text)


def _claimed(insn) -> bool:
    """Whether the translator lowers this instance (an operand value no rule takes, such as an
    immediate outside an entry's supported set, is not claimed and needs no model)."""
    from ..lower import Unsupported, lower_snippet
    try:
        lower_snippet(insn)
        return True
    except Unsupported:
        return False


def run_cases(cases: list[Case], executors: Executors, forms_order: list[str] | None = None,
              progress=None) -> list[Row]:
    """Run every case on the model and on its chosen executor (one batch per executor)."""
    from .x86model import Unmodelled
    order = forms_order or list(dict.fromkeys(c.form for c in cases))
    rows = {f: Row(f, "none") for f in order}
    chosen: dict[str, list[int]] = {"native": [], "bochs": []}
    used: dict[str, set[str]] = {f: set() for f in order}
    models: dict[int, object] = {}
    for i, c in enumerate(cases):
        row = rows[c.form]
        if c.insn.flow != "next":            # control flow: no RIP in the model (see verify)
            _note(row, "control flow: checked by verify's condition table and the kernel tests")
            row.skipped += 1
            continue
        m = run_model(c.insn, c.state)
        if isinstance(m, Unmodelled) and not _claimed(c.insn):
            _note(row, f"{c.text}: not claimed by the tables (no rule lowers it)")
            row.skipped += 1
            continue
        if isinstance(m, Unmodelled):
            row.status = "unmodelled"
            if not row.first_difference:
                row.first_difference = f"{c.text}: model has no semantics ({m})"
            continue
        name, why = executors.choose(c.insn)
        if name is None:
            _note(row, why)
            row.skipped += 1
            continue
        models[i] = m
        chosen[name].append(i)
        used[c.form].add(name)
    results: dict[int, object] = {}
    for name, idx in chosen.items():
        if not idx:
            continue
        t = time.monotonic()
        out = executors.run(name, [cases[i].insn.raw for i in idx], [cases[i].state for i in idx])
        results.update(zip(idx, out))
        if progress:
            progress(f"{name}: {len(idx)} cases in {time.monotonic() - t:.1f}s")
    for i, c in enumerate(cases):
        if i not in results:
            continue
        row = rows[c.form]
        row.states += 1
        v = compare(c.insn, c.state, models[i], results[i])
        if v.kind == "agree":
            row.agree += 1
            if v.mxcsr_status:
                row.mxcsr_status_notes += 1
                row.mxcsr_status_bits |= (models[i][0].mxcsr ^ results[i].mxcsr) & MXCSR_STATUS
                if not row.mxcsr_status_example:
                    row.mxcsr_status_example = f"{c.text} state {c.index}: {v.notes[0]}"
            else:
                for n in v.notes:
                    _note(row, n)
        elif v.kind == "skip":
            row.skipped += 1
        else:
            row.differ += 1
            if _RANK.get(row.status, 0) < _RANK[v.kind]:
                row.status = v.kind
            if not row.first_difference:
                row.first_difference = f"{c.text} state {c.index}: {v.diff}"
    for f, row in rows.items():
        names = sorted(used[f])
        row.oracle = names[0] if len(names) == 1 else ("mixed" if names else "none")
        if row.agree == 0 and row.differ == 0 and row.status == "ok":
            row.status = "no executor"
        elif row.status == "differ" and row.oracle == "bochs" and f.split()[0] in BOCHS_KNOWN_BUGS:
            row.status = "oracle-bug"
            _note(row, BOCHS_KNOWN_BUGS[f.split()[0]])
    return list(rows.values())


def summary(rows: list[Row]) -> dict:
    return {"forms": len(rows), "states": sum(r.states for r in rows),
            "disagreements": sum(r.differ for r in rows if r.status in FAILING),
            "rows": [r.to_json() for r in rows]}


def exit_code(rows: list[Row]) -> int:
    return 1 if any(r.status in FAILING for r in rows) else 0


def format_table(rows: list[Row], markdown: bool = False) -> str:
    head = ["form", "oracle", "states", "agree", "status", "first difference / notes"]
    body = []
    for r in rows:
        note = r.first_difference
        if r.notes:
            note += (" [" if note else "") + "; ".join(r.notes) + ("]" if note else "")
        if r.mxcsr_status_notes:
            note += (f" (mxcsr status {_bits(r.mxcsr_status_bits, _MXCSR_BITS)} differs in "
                     f"{r.mxcsr_status_notes} agreeing states)")
        agree = f"{r.agree}" + (f" (+{r.skipped} skipped)" if r.skipped else "")
        body.append([r.form, r.oracle, str(r.states), agree, r.status, note.strip()])
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for l in body:
            cells = [c.replace("|", "\\|") for c in l]
            cells[0] = f"`{cells[0]}`"
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out)
    widths = [max([len(head[i])] + [len(b[i]) for b in body]) for i in range(5)]

    def fmt(l):
        return "  ".join(l[i].ljust(widths[i]) for i in range(5)) + "  " + l[5]
    return "\n".join([fmt(head)] + [fmt(l) for l in body])


# ---- cases from forms.py / states.py -----------------------------------------------------------
def build_cases(n_states: int, seed: int, only: str | None = None,
                keep=None) -> tuple[list[Case], list[str]]:
    """Every form the tables claim (those matching ``only``; ``keep(form)`` filters further),
    ``n_states`` states each, cycling through the form's concrete instances.

    States come from ``states.random_states`` (lane width and FP rounding per table entry) with
    the memory operand placed in the window by ``states.place_memory``; on top of that a quarter
    of the FP states get MXCSR.DAZ and/or FZ, which the model implements and verify does not vary.
    """
    import numpy as np

    from . import forms as _forms
    from . import states as _states
    forms = _forms.enumerate_forms(seed=seed, only=only)
    cases: list[Case] = []
    order: list[str] = []
    for name, form in forms.items():
        if keep is not None and not keep(form):
            continue
        insts = form.instances
        if not insts:
            continue
        order.append(name)
        h = (seed * 1000003 + zlib.crc32(name.encode())) & 0xFFFFFFFF
        nrng, rng = np.random.default_rng(h), random.Random(h)
        fp = _states.is_fp(form.entry)
        sts = _states.random_states(nrng, n_states, _states.lane_kind(form.entry), fp)
        for j, st in enumerate(sts):
            inst = insts[j % len(insts)]
            _states.place_memory(st, inst.insn, rng, getattr(inst, "align", 1))
            if fp and rng.random() < 0.25:
                st.mxcsr |= rng.choice([0x40, 0x8000, 0x8040])
            cases.append(Case(name, _text(inst.insn), inst.insn, st, j))
    return cases, order


def _text(insn: Insn) -> str:
    if insn.text:
        return insn.text
    import iced_x86 as ix
    return ix.Formatter(ix.FormatterSyntax.INTEL).format(ix.Decoder(64, insn.raw).decode())


# ---- command line ------------------------------------------------------------------------------
def add_conformance_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--states", type=int, default=16, metavar="N",
                        help="random states per form (default 16)")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument("--only", metavar="REGEX", help="keep only the forms whose names match")
    parser.add_argument("--oracle", choices=("auto", "native", "bochs"), default="auto",
                        help="real x86 executor: auto = native where this CPU has the "
                             "instruction's extensions, else bochs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return parser


def run_conformance(args: argparse.Namespace) -> int:
    """``x2sve conformance``: exit 0 iff every form agrees (no differ/unmodelled/error row)."""
    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr)
    try:
        re.compile(args.only or "")
    except re.error as e:
        print(f"x2sve conformance: bad --only regex: {e}", file=sys.stderr)
        return 2
    if args.states < 1:
        print("x2sve conformance: --states must be >= 1", file=sys.stderr)
        return 2
    t = time.monotonic()
    cases, order = build_cases(args.states, args.seed, args.only)
    ex = Executors(args.oracle)
    try:
        rows = run_cases(cases, ex, order, progress)
    finally:
        ex.close()
    if args.json:
        print(json.dumps(summary(rows)))
    else:
        print(format_table(rows, markdown=args.markdown))
        s = summary(rows)
        bad = sum(r.status in FAILING for r in rows)
        print(f"\n{s['forms']} forms, {s['states']} states, {s['disagreements']} disagreeing states, "
              f"{bad} failing forms ({time.monotonic() - t:.1f}s)")
    return exit_code(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="x2sve conformance",
                                description="check the x86 model against real x86 executors")
    add_conformance_arguments(p)
    return run_conformance(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
