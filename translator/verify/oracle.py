"""``x2sve verify --oracle native|bochs``: a real x86 executor as the x86 side of verify.

``Harness`` (``harness.py``) takes the x86 side from the numpy model.  ``OracleHarness`` takes it
from a real executor (``conformance.Executors``: this CPU or bochs 2.7) and keeps everything else:
the same forms, lowering variants, random states, memory placement, k trimming, Arm run and
``compare.compare``.  Per form (``run_forms`` with several forms: per group of forms, one bochs
boot) it

1. prepares every state first: ``place_memory``, zero above VL, k trimmed to its predicate
   layout's capacity; the model runs on the prepared state (its #GP for alignment re-places the
   operand 64-byte aligned, as verify does; a second #GP excludes the state) and gives the mask of
   undefined flags;
2. runs the executor once on all states of the form (of the group);
3. per state runs the lowered SVE on unicorn and compares it with the executor's result.

The x86 side falls back to the model, with a note and a count in ``x86_side``, where the executor
cannot stand in for x86:

* the instruction needs an extension the executor lacks (``Executors.choose``: e.g. AVX512-FP16
  here and in bochs);
* control flow (jmp/jcc/call/ret): verify checks the direction with Intel's condition table;
* push/pop: the executor runs on its own stack, not on the window (rsp would leave it);
* rip-relative or VSIB memory operands: the executor's code address and the addresses a gather
  touches are not the window's;
* ldmxcsr/stmxcsr (entries with ``verify: {mxcsr: ...}``): their states need the MXCSR set-up that
  ``Harness._one`` does (seeded values, the translation's MXCSR scratch slot);
* the executor raised #UD, timed out or crashed; or the model raised #PF (an access outside the
  window) where the executor ran (what it touched is not in the state).

A form the model does not know (``Unmodelled``) is still verified against the executor where one
runs it, with iced-x86's static undefined-flags mask instead of the model's (noted); where none
does it is skipped as in verify.

Faults: an executor fault (other than #UD) is the x86 result: the Arm side must fault too.  If the
model did not fault there, the form gets a note (the model and the executor disagree).

Compared: as verify (``compare.compare``): vectors, placed k registers, GPRs, the flags the
translation provides that x86 defines (the model's undefined-flag mask, per state), FPCR restored,
the memory window.  MXCSR status flags are not compared: the Arm state has no FPSR.  Besides, each
executor state is checked against the model (``conformance.compare``); disagreements are a note
(``model differs from native in N states``), not a mismatch: ``x2sve conformance`` owns those.
"""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import iced_x86 as I

from ..ir import Mem, Vec
from ..oracles.common import ExceptionResult
from . import x86_model as model
from .arm_exec import ArmExecError
from .compare import FLAG_BIT, compare, to_arm
from .forms import Form
from .harness import _ICED_FLAGS, MAX_INSNS, X_TAKEN, FormResult, Harness, _re_escape, zero_above_width
from .state import MEM_SIZE, X86State
from .states import place_memory

__all__ = ["ORACLES", "MXCSR_NOTE", "OracleFormResult", "OracleHarness", "fallback_reason",
           "summary_lines"]

ORACLES = ("model", "native", "bochs")
_MXCSR_INSNS = {"ldmxcsr", "vldmxcsr", "stmxcsr", "vstmxcsr", "fxrstor", "xrstor"}
MXCSR_NOTE = "MXCSR status flags are not compared (the Arm state has no FPSR)"


@dataclass
class OracleFormResult(FormResult):
    oracle: str = "model"
    x86_side: dict = field(default_factory=dict)    # {'native': n, 'model': n, 'excluded': n}
    model_differs: int = 0                          # executor states where the model disagrees


@dataclass
class _Case:
    pi: int
    vi: int
    j: int
    st: X86State                     # the prepared input
    model: object = None             # (X86State, undef) | X86Fault | Unmodelled
    via: str = "model"               # 'native' | 'bochs' | 'model'
    why: str = ""                    # fallback reason
    r: Optional[random.Random] = None
    prep: object = None


def iced_undefined(raw: bytes) -> int:
    """iced-x86's static mask of RFLAGS bits the instruction leaves undefined (x86 bit positions)."""
    ins = I.Decoder(64, raw).decode()
    u = ins.rflags_undefined
    return sum(FLAG_BIT[n] for n, b in _ICED_FLAGS.items() if u & b)


def fallback_reason(insn) -> str:
    """Why no executor can stand in for x86 on this instruction ('' when one can, as far as the
    instruction's shape goes; the executor's extensions are ``Executors.choose``'s business)."""
    if insn.flow != "next":
        return "control flow: x86 side from Intel's condition table / the model"
    if insn.mnemonic in ("push", "pop", "pushf", "popf", "pushfq", "popfq", "call", "ret"):
        return "implicit stack: the executor's stack is not the window"
    for op in insn.ops:
        if isinstance(op, Mem):
            if op.rip:
                return "rip-relative memory: the executor's code address differs"
            if isinstance(op.index, Vec):
                return "VSIB memory: gathered addresses are not confined to the window"
    return ""


class OracleHarness(Harness):
    """``Harness`` with a real executor as the x86 side (``oracle``: 'native' or 'bochs')."""

    def __init__(self, oracle: str = "native", executors=None, **kw):
        if oracle not in ("native", "bochs"):
            raise ValueError(f"oracle must be native or bochs, got {oracle!r}")
        super().__init__(**kw)
        self.oracle = oracle
        if executors is None:
            from .conformance import Executors
            executors = Executors(oracle)
        self.executors = executors
        self._choice: dict[bytes, tuple] = {}

    def close(self) -> None:
        self.executors.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # ---- public -------------------------------------------------------------------------------
    def run_form(self, form: Form, n_states: Optional[int] = None) -> OracleFormResult:
        return self.run_forms([form], n_states)[0]

    def run_forms(self, forms: list[Form], n_states: Optional[int] = None) -> list[OracleFormResult]:
        """Prepare the states of every form, run the executor once on all of them (one batch per
        executor), then the Arm side per state."""
        jobs = [self._plan(f, n_states or self.n_states) for f in forms]
        batch: dict[str, list[_Case]] = {}
        for job in jobs:
            for c in job["cases"]:
                if c.via != "model":
                    batch.setdefault(c.via, []).append(c)
        results: dict[int, object] = {}
        for name, cases in batch.items():
            codes = [c.prep.raw for c in cases]
            try:
                out = self.executors.run(name, codes, [c.st.copy() for c in cases])
            except Exception as e:                      # the executor itself failed
                out = [ExceptionResult(None, f"{name} failed: {type(e).__name__}: {e}")] * len(cases)
            for c, o in zip(cases, out):
                results[id(c)] = o
        return [self._finish(job, results) for job in jobs]

    # ---- phase 1: prepare -------------------------------------------------------------------
    def _plan(self, form: Form, n: int) -> dict:
        t0 = time.perf_counter()
        e = form.entry
        res = OracleFormResult(form.name, e.name, form.mnemonic, len(form.instances), oracle=self.oracle)
        job = {"form": form, "res": res, "cases": [], "t": 0.0, "n": n, "preps": [],
               "asm_errors": 0, "why": Counter()}
        begun = self.begin_form(form, res, n)
        if begun is None:
            job["t"] = time.perf_counter() - t0
            return job
        preps, asm_errors, states, rng, r, relax, plan = begun
        job["preps"], job["asm_errors"] = preps, len(asm_errors)
        job["relax"], job["rng"], job["r"] = relax, rng, r
        for pi, vi, j in plan:
            prep = preps[pi]
            c = _Case(pi, vi, j, states[j], prep=prep)
            why = fallback_reason(prep.insn) or self._setup_reason(prep.insn)
            if not why:
                name, why = self._choose(prep.insn)
                if name is not None:
                    c.via = name
            if c.via == "model":
                c.why = why
                job["cases"].append(c)
                continue
            self._prepare_state(c, prep, r)
            if c.via != "excluded":
                job["cases"].append(c)
            else:
                res.excluded += 1
        job["t"] = time.perf_counter() - t0
        return job

    def _setup_reason(self, insn) -> str:
        """Instructions whose states need set-up that only ``Harness._one`` does (MXCSR seeding
        and the translation's MXCSR scratch slot for ldmxcsr/stmxcsr: ``verify: {mxcsr: ...}``)."""
        entry = self.tables.entry_for(insn.mnemonic)
        if insn.mnemonic in _MXCSR_INSNS or (getattr(entry, "verify", None) or {}).get("mxcsr"):
            return "MXCSR state control: per-state set-up of verify's own path"
        return ""

    def _choose(self, insn) -> tuple[Optional[str], str]:
        key = bytes(insn.raw)
        if key not in self._choice:
            self._choice[key] = self.executors.choose(insn)
        return self._choice[key]

    def _prepare_state(self, c: _Case, prep, r: random.Random) -> None:
        """What verify does to a state before running it (see ``Harness._one``), and the model."""
        st, insn = c.st, prep.insn
        rm = prep.variants[c.vi][1].regmap
        place_memory(st, insn, r, prep.align)
        if self.vl < 512:
            nb = self.vl // 8
            st.zmm = [z[:nb] + bytes(64 - nb) for z in st.zmm]
        zero_above_width(st, insn, prep.variants[c.vi][1])
        for k in rm.k_pred:
            cap = rm.k_capacity(k)
            if cap < 64:
                st.k[k] &= (1 << cap) - 1
        m = _run_model(insn, st)
        if isinstance(m, model.X86Fault) and m.kind == "#GP":
            place_memory(st, insn, r, 64)
            m = _run_model(insn, st)
            if isinstance(m, model.X86Fault) and m.kind == "#GP":
                c.via = "excluded"
        c.model = m
        c.r = random.Random(r.getrandbits(64))       # the Arm side's random registers

    # ---- phase 3: Arm side ------------------------------------------------------------------
    def _finish(self, job: dict, results: dict) -> OracleFormResult:
        t0 = time.perf_counter()
        res: OracleFormResult = job["res"]
        form: Form = job["form"]
        preps = job["preps"]
        side: Counter = Counter()
        why: Counter = Counter()
        first_model_diff = ""
        unmodelled = []
        for c in job["cases"]:
            prep = preps[c.pi]
            fin, snip, code, lines = prep.variants[c.vi]
            if c.via == "model":
                try:
                    out = self._one(c.j, c.st, prep, fin, snip, code, lines, job["rng"], job["r"],
                                    job["relax"], res)
                except model.Unmodelled as ex:
                    res.skipped = f"unmodelled: {ex}" + (f" (and no executor: {c.why})" if c.why else "")
                    res.states = 0
                    res.mismatches = job["asm_errors"]
                    res.failures = res.failures[:job["asm_errors"]]
                    side.clear()
                    break
                side["model"] += 1
                why[c.why] += 1
                self._count(res, form, prep, c, out, "model", job["n"])
                continue
            x = results.get(id(c))
            m = c.model
            x_fault = None
            undef = 0
            via = c.via
            note = ""
            if isinstance(x, ExceptionResult) and (x.vector is None or x.name == "#UD"):
                via, note = "model", f"executor {x.name}"
            elif isinstance(m, model.X86Fault) and m.kind == "#PF" and not isinstance(x, ExceptionResult):
                via, note = "model", "model #PF outside the window where the executor ran"
            if via == "model":
                if isinstance(m, model.Unmodelled) or m is None:
                    res.excluded += 1
                    why[f"{note}, no model: state excluded"] += 1
                    side["excluded"] += 1
                    continue
                why[note] += 1
                side["model"] += 1
                if isinstance(m, model.X86Fault):
                    x_out, x_fault = None, m
                else:
                    x_out, undef = m
            else:
                side[via] += 1
                if isinstance(m, model.Unmodelled):
                    unmodelled.append(str(m))
                if isinstance(x, ExceptionResult):
                    x_out, x_fault = None, x
                    if not isinstance(m, (model.X86Fault, model.Unmodelled)):
                        res.model_differs += 1
                        first_model_diff = first_model_diff or \
                            f"{prep.insn.text} state {c.j}: {via} raised {x.name}, the model did not"
                else:
                    x_out = x
                    undef = m[1] if isinstance(m, tuple) else iced_undefined(prep.raw)
                    if not isinstance(m, model.Unmodelled):
                        from .conformance import compare as conf_compare
                        v = conf_compare(prep.insn, c.st, m, x)
                        if v.kind == "differ":
                            res.model_differs += 1
                            first_model_diff = first_model_diff or f"{prep.insn.text} state {c.j}: {v.diff}"
            out = self._arm(c, prep, fin, snip, code, lines, x_out, x_fault, undef, job["relax"], res)
            self._count(res, form, prep, c, out, via, job["n"])
        if side:
            res.x86_side = dict(side)
        if side["model"]:
            reasons = "; ".join(f"{k or 'no reason'}: {v}" for k, v in why.most_common())
            res.notes.append(f"x86 side: model for {side['model']} of {sum(side.values())} states ({reasons})")
        elif side["excluded"]:
            reasons = "; ".join(f"{k}: {v}" for k, v in why.most_common())
            res.notes.append(f"{side['excluded']} states excluded ({reasons})")
        if unmodelled:
            res.notes.append(f"the model has no semantics ({unmodelled[0]}); x86 side {self.oracle} "
                             f"with iced-x86's undefined-flags mask")
        if res.model_differs:
            res.notes.append(f"model differs from {self.oracle} in {res.model_differs} states "
                             f"(x2sve conformance): {first_model_diff}")
        res.seconds = job["t"] + time.perf_counter() - t0
        return res

    def _count(self, res, form, prep, c, out, via, n) -> None:
        if out == "excluded":
            res.excluded += 1
            return
        res.states += 1
        if out is None:
            return
        res.mismatches += 1
        if len(res.failures) < self.max_failures:
            fin, snip, code, lines = prep.variants[c.vi]
            out.update(form=form.name, x86_code=prep.raw.hex(), instruction=prep.insn.text,
                       state=c.j, seed=self.seed, arm_asm=lines, x86_side=via,
                       reproduce=f"x2sve verify --oracle {self.oracle} --only '^{_re_escape(form.name)}$' "
                                 f"--seed {self.seed} --states {n} --vl {self.vl}"
                                 + (" --nan-mode fast" if self.nan_mode == "fast" else ""))
            res.failures.append(out)

    def _arm(self, c, prep, fin, snip, code, lines, x_out, x_fault, undef, relax, res):
        """The tail of ``Harness._one`` with the x86 result given."""
        st = c.st
        a_in = to_arm(st, snip, self.vl, c.r)
        try:
            a_out = self.runner.run(code, a_in, MAX_INSNS)
            a_fault = None
        except ArmExecError as ex:
            a_out, a_fault = None, ex
        if self.dump is not None:
            self._dump(prep.insn, prep.raw, code, st, x_out, a_in, a_out)
        if x_fault is not None or a_fault is not None:
            if x_fault is not None and a_fault is not None:
                res.arm_faults_matched += 1
                return None
            if x_fault is not None:
                name = getattr(x_fault, "name", None) or str(x_fault)
                return {"register": "fault", "x86_value": name, "arm_value": "completed"}
            return {"register": "fault", "x86_value": "completed", "arm_value": str(a_fault)}
        return compare(prep.insn, snip, st, x_out, undef, a_in, a_out, self.vl, relax, prep.used_z)


def _run_model(insn, st: X86State):
    try:
        return model.execute_ex(insn, st)
    except (model.X86Fault, model.Unmodelled) as e:
        return e


def summary_lines(results: list[dict], oracle: str) -> list[str]:
    """Text for the end of ``x2sve verify --oracle``: where the x86 side came from."""
    full = part = none = 0
    st_ex = st_model = 0
    differs = 0
    for r in results:
        s = r.get("x86_side") or {}
        ex = s.get(oracle, 0)
        mo = s.get("model", 0)
        st_ex += ex
        st_model += mo
        differs += r.get("model_differs", 0)
        if r.get("skipped") is not None:
            continue
        if ex and not mo:
            full += 1
        elif ex:
            part += 1
        else:
            none += 1
    return [f"x86 side: {oracle} for {st_ex} states ({full} forms entirely, {part} partly), "
            f"model fallback for {st_model} states ({none} forms entirely; see the notes)",
            f"model vs {oracle}: {differs} differing states (notes; x2sve conformance checks the model)",
            MXCSR_NOTE]
