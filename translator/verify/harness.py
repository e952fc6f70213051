"""Differential testing of one form: the x86 model against the lowered SVE on unicorn.

For each instance of a form (see ``forms.py``) and each of two NZCV conventions for the carry
(``flags_in`` = {ZF: Z, SF: N, OF: V, CF: C} or CF: !C, chosen per state), the instruction is lowered
with ``lower_snippet`` and assembled once (set-up + body + out-of-line paths). States
(``states.py``) are spread round-robin over the instances; per state the memory base register is
placed in the window, each k is trimmed to the capacity of its home layout, the model runs
(``x86_model.execute_ex``), the state is mapped onto Arm (``compare.to_arm``), the snippet runs on
``ArmRunner`` and the results are compared (``compare.compare``).

Outcomes per state: pass; mismatch (with the first differing register); x86 fault matched by an
Arm fault (pass); x86 fault without an Arm fault, or an Arm fault without an x86 one (mismatch);
an x86 #GP for alignment is retried with a 64-byte aligned address, then excluded. A form the
model does not know (``Unmodelled``) or that no instance lowers (``Unsupported``) is *skipped*
with the reason, never passed.

Branches (direct jmp/jcc): the model does not branch (it has no RIP), so verify computes
taken/not-taken from the input RFLAGS with Intel's condition table (``COND``) and checks the
translation by lowering with ``label_of`` mapping the target to ``.Lv_taken`` and the next
instruction to ``.Lv_next``; the snippet records the path in x25 (0 fall-through, 1 taken).
Registers, flags and memory must be unchanged.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import iced_x86 as I
import numpy as np

from ..encode import assemble
from ..ir import GPR64, Insn, Mem, Vec
from ..lower import ALL_FLAGS, Unsupported, lower_snippet
from ..lower.regmap import MXCSR_DEFAULT, SCRATCH_MXCSR
from ..lower.splat import pattern_of as splat_pattern
from ..lower.upper import dst_is_free, eligible as zero_eligible, operand_regs
from ..lower.tables import Tables, default_tables
from . import x86_model as model
from .arm_exec import ArmExecError, ArmRunner
from .compare import FLAG_BIT, compare, to_arm, used_vec_regs
from .forms import Form
from .state import MEM_SIZE
from .states import is_fp, lane_kind, place_memory, random_states

FLAGS_C = {"ZF": "Z", "SF": "N", "OF": "V", "CF": "C", "PF": "P"}     # PF: parity of w27's low byte
FLAGS_NC = {"ZF": "Z", "SF": "N", "OF": "V", "CF": "!C", "PF": "P"}
_ICED_FLAGS = {"OF": I.RflagsBits.OF, "SF": I.RflagsBits.SF, "ZF": I.RflagsBits.ZF,
               "AF": I.RflagsBits.AF, "CF": I.RflagsBits.CF, "PF": I.RflagsBits.PF}
X_TAKEN = 25
MAX_INSNS = 20000

# Intel condition codes: cc -> function of RFLAGS
_F = FLAG_BIT
COND = {
    "o": lambda f: f & _F["OF"], "no": lambda f: not f & _F["OF"],
    "b": lambda f: f & _F["CF"], "ae": lambda f: not f & _F["CF"],
    "e": lambda f: f & _F["ZF"], "ne": lambda f: not f & _F["ZF"],
    "be": lambda f: f & (_F["CF"] | _F["ZF"]), "a": lambda f: not f & (_F["CF"] | _F["ZF"]),
    "s": lambda f: f & _F["SF"], "ns": lambda f: not f & _F["SF"],
    "p": lambda f: f & _F["PF"], "np": lambda f: not f & _F["PF"],
    "l": lambda f: bool(f & _F["SF"]) != bool(f & _F["OF"]),
    "ge": lambda f: bool(f & _F["SF"]) == bool(f & _F["OF"]),
    "le": lambda f: bool(f & _F["ZF"]) or bool(f & _F["SF"]) != bool(f & _F["OF"]),
    "g": lambda f: not f & _F["ZF"] and bool(f & _F["SF"]) == bool(f & _F["OF"]),
}
_CC_ALIAS = {"z": "e", "nz": "ne", "c": "b", "nae": "b", "nb": "ae", "nc": "ae", "na": "be",
             "nbe": "a", "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}


def branch_taken(mnemonic: str, rflags: int) -> Optional[bool]:
    if mnemonic == "jmp":
        return True
    if mnemonic.startswith("j"):
        cc = _CC_ALIAS.get(mnemonic[1:], mnemonic[1:])
        if cc in COND:
            return bool(COND[cc](rflags))
    return None


def form_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{name}".encode()).digest()[:8], "little")


@dataclass
class FormResult:
    form: str
    entry: str
    mnemonic: str
    instances: int = 0
    states: int = 0
    mismatches: int = 0
    excluded: int = 0
    arm_faults_matched: int = 0
    skipped: Optional[str] = None
    failures: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Prep:
    raw: bytes
    insn: Insn
    align: int
    used_z: set
    variants: list           # [(flags_in, snippet, code bytes, lines)]
    branch: bool = False


def zero_above_width(st, insn: Insn, snip) -> None:
    """For a ``keeps_zero`` variant (``snip.zero_above`` set): every vector register zero above
    the destination's width, except a destination the instruction does not read (it must come
    out zero there without help)."""
    if snip.zero_above is None:
        return
    nb = insn.ops[0].bits // 8
    keep = {insn.ops[0].index} if dst_is_free(insn) else set()
    st.zmm = [z if i in keep else z[:nb] + bytes(len(z) - nb) for i, z in enumerate(st.zmm)]


def fill_splat(st, insn: Insn, snip) -> None:
    """For a splat variant (``snip.splat`` set): each such operand register holds its constant
    over the operand's width (what lower/splat.py claims; the bits above stay random)."""
    if not snip.splat:
        return
    for z, name in snip.splat:
        pat, _ = splat_pattern(name)
        nb = next(op.bits for op in insn.ops if isinstance(op, Vec) and op.index == z) // 8
        st.zmm[z] = (pat.to_bytes(8, "little") * (nb // 8)) + st.zmm[z][nb:]


class _Variant(NamedTuple):
    """One way an instance is lowered and run (the arguments of ``Harness._lower``)."""
    flags_in: dict
    dead: bool = False
    pressure: bool = False
    zero: bool = False
    splat: Optional[frozenset] = None
    reuse: Optional[str] = None
    nolane: bool = False


def _splat_variants(entry, insn: Insn) -> list:
    """The ``<operand>_splat`` conditions of the entry's rules that this instance can meet."""
    if entry is None or not entry.splats or insn.mask:
        return []
    ops = dict(zip(entry.operands, insn.ops))
    return [frozenset({(ops[n].index, v)}) for n, v in entry.splats if isinstance(ops.get(n), Vec)]


class Harness:
    """Runs forms. One instance per process (it owns an ``ArmRunner``)."""

    def __init__(self, vl: int = 512, nan_mode: str = "exact", tables: Optional[Tables] = None,
                 seed: int = 0, states: int = 64, dump=None, max_failures: int = 3):
        self.vl = vl
        self.nan_mode = nan_mode
        self.tables = tables or default_tables()
        self.seed = seed
        self.n_states = states
        self.dump = dump                 # a writable text file or None
        self.max_failures = max_failures
        self.runner = ArmRunner(vl)

    # ---- preparation ------------------------------------------------------------------------
    def _lower(self, insn: Insn, flags_in: dict, dead: bool = False, pressure: bool = False,
               zero: bool = False, splat: Optional[frozenset] = None, reuse: Optional[str] = None,
               nolane: bool = False):
        """``dead``: lower as if x86 flags were dead afterwards, which lets the engine move slow
        paths (the NaN fix-up) out of line; NZCV is then not compared. ``pressure``: no free
        vector register, so every temporary is spilled (a kernel using all 32 zmm). ``zero``:
        lower as if every vector operand were zero above the destination's width (an entry's
        ``keeps_zero`` claim; the state is made so in ``_one``). ``splat``: operands holding a
        known constant (rules with ``<operand>_splat``; the state is made so in ``_one``).
        ``reuse``: lower as if the next instruction read this source again (``reuses`` rules).
        ``nolane``: in a unit without the one-element predicate ``{lane}`` rules want."""
        branch = insn.flow in ("conditional_branch", "unconditional_branch") and insn.target is not None
        label_of = None
        if branch:
            def label_of(addr: int) -> str:
                if addr == insn.target:
                    return ".Lv_taken"
                if addr == insn.next_address:
                    return ".Lv_next"
                raise Unsupported(insn, f"verify: label for {addr:#x} outside the snippet")
        snip = lower_snippet(insn, vl=self.vl, nan_mode=self.nan_mode, tables=self.tables,
                             flags_in=dict(flags_in), label_of=label_of,
                             flags_live_out=frozenset() if dead else ALL_FLAGS, outline=dead,
                             free_z=[] if pressure else None,
                             zero_above=frozenset(operand_regs(insn)) if zero else None,
                             splat=splat, reuse=reuse, lanes=not nolane)
        if dead:
            snip.flags_out = {}
        lines = list(snip.lines)
        if branch:
            lines += [".Lv_next:", f"mov x{X_TAKEN}, #0", "b .Lv_end", ".Lv_taken:",
                      f"mov x{X_TAKEN}, #1", ".Lv_end:"]
        return snip, lines, branch

    def prepare(self, form: Form) -> tuple[list[_Prep], list[str], list[dict]]:
        """Lower and assemble every instance; returns (prepared, unsupported reasons, assembly errors)."""
        preps, unsupported, asm_errors = [], [], []
        for inst in form.instances:
            variants = []
            branch = False
            entry = self.tables.entry_for(inst.insn.mnemonic)
            kinds = [_Variant(FLAGS_C), _Variant(FLAGS_NC)]
            if entry is not None and entry.nan and not inst.insn.flow.endswith("branch"):
                kinds.append(_Variant(FLAGS_C, dead=True))      # the out-of-line NaN path
            if entry is not None and entry.T:                   # every temporary spilled
                kinds.append(_Variant(FLAGS_NC, dead=entry.nan != [], pressure=True))
            if entry is not None and entry.claims_keeps_zero and zero_eligible(inst.insn):
                kinds.append(_Variant(FLAGS_NC, zero=True))     # operands zero above the width
            for sp in _splat_variants(entry, inst.insn):        # an operand holding a constant
                kinds.append(_Variant(FLAGS_NC, splat=sp))
            for ru in (entry.reuses if entry is not None else []):   # a source the next one reads
                kinds.append(_Variant(FLAGS_NC, reuse=ru))
            if entry is not None and entry.uses_lane:            # a unit out of lane predicates
                kinds.append(_Variant(FLAGS_NC, nolane=True))
            for v in kinds:
                try:
                    snip, lines, branch = self._lower(inst.insn, *v)
                except Unsupported as e:
                    unsupported.append(f"{inst.insn.text}: {e.reason}")
                    variants = None
                    break
                try:
                    code = assemble(lines)
                except Exception as e:          # EncodeError: the translation is not valid A64
                    asm_errors.append({"x86_code": inst.raw.hex(), "instruction": inst.insn.text,
                                       "error": f"{type(e).__name__}: {e}", "arm_asm": lines})
                    variants = None
                    break
                variants.append((v.flags_in, snip, code, lines))
            if variants:
                preps.append(_Prep(inst.raw, inst.insn, inst.align, used_vec_regs(inst.insn), variants, branch))
        return preps, unsupported, asm_errors

    # ---- one form ---------------------------------------------------------------------------
    def begin_form(self, form: Form, res, n: int):
        """Lower and assemble the instances, record assembly failures and notes in ``res``, draw
        the states and the plan. Returns None when no instance can run (``res.skipped`` says
        why), else (preps, asm_errors, states, rng, r, relax, plan)."""
        e = form.entry
        preps, unsupported, asm_errors = self.prepare(form)
        for a in asm_errors[: self.max_failures]:
            res.failures.append(dict(form=form.name, state=None, register="assemble", seed=self.seed,
                                     x86_value=None, arm_value=None, **a))
        res.mismatches += len(asm_errors)
        if unsupported:
            res.notes.append(f"{len(unsupported)} instance(s) unsupported by the lowering: {unsupported[0]}")
        if not preps:
            if not asm_errors:
                res.skipped = ("unsupported: " + unsupported[0]) if unsupported else "no instances"
            return None
        missing = self._flag_notes(preps)
        if missing:
            res.notes.append(missing)
        fseed = form_seed(self.seed, form.name)
        rng = np.random.default_rng(fseed)
        r = random.Random(fseed)
        states = random_states(rng, n, lane_kind(e), is_fp(e))
        relax = e.T if (self.nan_mode == "fast" and e.nan) else None
        # states go round-robin over instances, with a random carry convention each; they run
        # grouped by snippet so that unicorn keeps its translation between states
        plan = sorted((j % len(preps), r.randrange(len(preps[j % len(preps)].variants)), j)
                      for j in range(n))
        return preps, asm_errors, states, rng, r, relax, plan

    def run_form(self, form: Form, n_states: Optional[int] = None) -> FormResult:
        t0 = time.perf_counter()
        n = n_states or self.n_states
        e = form.entry
        res = FormResult(form.name, e.name, form.mnemonic, len(form.instances))
        begun = self.begin_form(form, res, n)
        if begun is None:
            res.seconds = time.perf_counter() - t0
            return res
        preps, asm_errors, states, rng, r, relax, plan = begun
        for pi, vi, j in plan:
            st = states[j]
            prep = preps[pi]
            fin, snip, code, lines = prep.variants[vi]
            try:
                out = self._one(j, st, prep, fin, snip, code, lines, rng, r, relax, res)
            except model.Unmodelled as ex:
                res.skipped = f"unmodelled: {ex}"
                res.states = 0
                res.mismatches = len(asm_errors)
                res.failures = res.failures[:len(asm_errors)]
                break
            if out == "excluded":
                res.excluded += 1
                continue
            res.states += 1
            if out is not None:
                res.mismatches += 1
                if len(res.failures) < self.max_failures:
                    out.update(form=form.name, x86_code=prep.raw.hex(), instruction=prep.insn.text,
                               state=j, seed=self.seed, arm_asm=lines,
                               reproduce=f"x2sve verify --only '^{_re_escape(form.name)}$' --seed {self.seed} "
                                         f"--states {n} --vl {self.vl}"
                                         + (" --nan-mode fast" if self.nan_mode == "fast" else ""))
                    res.failures.append(out)
        res.seconds = time.perf_counter() - t0
        return res

    def _flag_notes(self, preps: list[_Prep]) -> str:
        """Flags that x86 writes (iced's RflagsBits, less the undefined ones) but the translation
        does not provide (not a failure; consumers of them are unsupported)."""
        missing: set[str] = set()
        for p in preps:
            ins = I.Decoder(64, p.raw, ip=p.insn.address).decode()
            written = ins.rflags_modified & ~ins.rflags_undefined
            provided = set(p.variants[0][1].flags_out)
            for name, bit in _ICED_FLAGS.items():
                if written & bit and name not in provided:
                    missing.add(name)
        if not missing:
            return ""
        return f"x86 defines {', '.join(sorted(missing))} but the translation does not provide it"

    def _one(self, j, st, prep: _Prep, fin, snip, code, lines, rng, r, relax, res):
        insn = prep.insn
        rm = snip.regmap
        place_memory(st, insn, r, prep.align)
        if self.vl < 512:
            nb = self.vl // 8
            st.zmm = [z[:nb] + bytes(64 - nb) for z in st.zmm]
        zero_above_width(st, insn, snip)
        fill_splat(st, insn, snip)
        for k in rm.k_pred:
            cap = rm.k_capacity(k)
            if cap < 64:
                st.k[k] &= (1 << cap) - 1
        if insn.mnemonic in ("push", "pop"):       # the stack lives in the window too
            st.gpr["rsp"] = st.mem_base + 8 * r.randrange(2, MEM_SIZE // 8 - 2)
        mx = (getattr(self.tables.entry_for(insn.mnemonic), "verify", None) or {}).get("mxcsr")
        if mx:                                     # state control (system.yaml): MXCSR values
            _seed_mxcsr(st, insn, mx, r)
            self.runner.write_scratch(SCRATCH_MXCSR, _mxcsr_slot(st.mxcsr).to_bytes(4, "little"))
        x_fault = None
        if prep.branch:
            x_out, undef = st.copy(), 0
            taken = branch_taken(insn.mnemonic, st.rflags)
            if taken is None:
                raise model.Unmodelled(insn.form, "branch condition not in the Intel table here")
        else:
            try:
                x_out, undef = model.execute_ex(insn, st)
            except model.X86Fault as f:
                if f.kind == "#GP":
                    place_memory(st, insn, r, 64)
                    try:
                        x_out, undef = model.execute_ex(insn, st)
                    except model.X86Fault:
                        return "excluded"
                else:
                    x_fault, x_out, undef = f, None, 0
        a_in = to_arm(st, snip, self.vl, r)
        try:
            a_out = self.runner.run(code, a_in, MAX_INSNS)
            a_fault = None
        except ArmExecError as ex:
            a_out, a_fault = None, ex
        if self.dump is not None:
            self._dump(insn, prep.raw, code, st, x_out, a_in, a_out)
        if x_fault is not None or a_fault is not None:
            if x_fault is not None and a_fault is not None:
                res.arm_faults_matched += 1
                return None
            if x_fault is not None:
                return {"register": "fault", "x86_value": str(x_fault), "arm_value": "completed"}
            return {"register": "fault", "x86_value": "completed", "arm_value": str(a_fault)}
        d = compare(insn, snip, st, x_out, undef, a_in, a_out, self.vl, relax, prep.used_z)
        if d is None and prep.branch:
            got = a_out.x[X_TAKEN]
            if got != int(taken):
                d = {"register": "taken", "x86_value": int(taken), "arm_value": got,
                     "note": "branch direction (x25: 1 taken, 0 fall-through)"}
        return d

    def _dump(self, insn, raw, code, x_in, x_out, a_in, a_out) -> None:
        rec = {"form": insn.form, "vl": self.vl, "x86_code": raw.hex(), "arm_code": code.hex(),
               "x86_in": x_in.to_json(), "x86_out": x_out.to_json() if x_out is not None else None,
               "arm_in": a_in.to_json(), "arm_out": a_out.to_json() if a_out is not None else None}
        self.dump.write(json.dumps(rec, separators=(",", ":")) + "\n")


def _mxcsr_slot(mxcsr: int) -> int:
    """The scratch slot's encoding of an MXCSR value (regmap.SCRATCH_MXCSR; RC lives in FPCR)."""
    return (mxcsr ^ MXCSR_DEFAULT) & ~0x6000 & 0xFFFFFFFF


def _seed_mxcsr(st, insn: Insn, values: list, r) -> None:
    """MXCSR, and the m32 operand, take one of the entry's ``verify: {mxcsr: [...]}`` values with
    a random RC and random status flags (bits 0-5)."""
    def pick() -> int:
        return int(r.choice(values)) | r.randrange(4) << 13 | r.getrandbits(6)
    st.mxcsr = pick()
    for op in insn.ops:
        if isinstance(op, Mem) and op.size == 4 and not op.rip and op.base is not None:
            ea = st.gpr[GPR64[op.base.index]] + op.disp
            if op.index is not None:
                ea += st.gpr[GPR64[op.index.index]] * op.scale
            off = (ea & ((1 << 64) - 1)) - st.mem_base
            if 0 <= off <= len(st.mem) - 4:
                st.mem = st.mem[:off] + pick().to_bytes(4, "little") + st.mem[off + 4:]


def _re_escape(s: str) -> str:
    import re
    return re.escape(s).replace("'", "\\'")
