"""Every (mnemonic, operand shape) form that the mapping tables claim, as concrete instances.

For each table entry and each of its mnemonics we walk iced-x86's ``Code`` enum (every code whose
``OpCodeInfo.mnemonic`` is that mnemonic, legacy/VEX/EVEX, valid in 64-bit mode), expand each
operand's ``OpCodeOperandKind`` into the shapes it allows (``XMM_OR_MEM`` -> xmm or m128, plus a
``{1toN}`` broadcast where the code can broadcast), the write-masking variants the entry allows
(``none``/``merge``/``zero``), and ``{er}``/``{sae}`` where the code takes them. Each shape is then
instantiated several times with random registers in different aliasings (all distinct,
dst==src1, dst==src2, src1==src2 ...), random memory operands ``[base + index*scale + disp]``
(disp: 0, disp8*N-compressible, odd small, large 32-bit) and immediates (the entry's
``verify: {imm: [...]}`` edges plus random ones), encoded with iced's ``Encoder``, decoded with
our own ``decode_one``, and kept only if the entry accepts the decoded instruction. Instances are
keyed by ``Insn.form``.

Memory operands are placed by the state generator (``states.place_memory``): it sets the base
register so that the effective address lands inside the 4 KiB window, so any disp/index works.
``rsp`` is never used (the JSON state formats leave it out).
"""
from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Optional

import iced_x86 as I

from ..decode import DecodeError, decode_one
from ..ir import Gpr, Imm, Insn, KReg, Mem, Vec
from ..lower.engine import _has_lock, operand_kind
from ..lower.tables import Entry, Tables, default_tables

__all__ = ["Instance", "Form", "enumerate_forms", "form_instances", "codes_for", "INSN_ADDRESS"]

INSN_ADDRESS = 0x401000          # where verify places the x86 instruction


def _enum(mod) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in vars(mod).items():
        if k.isupper() and isinstance(v, int) and not k.startswith("_"):
            out.setdefault(v, k)
    return out


_MNEM = {v: k.lower() for v, k in _enum(I.Mnemonic).items()}
_OPK = _enum(I.OpCodeOperandKind)
_ENC = {I.EncodingKind.LEGACY: "legacy", I.EncodingKind.VEX: "vex", I.EncodingKind.EVEX: "evex"}
_CODES: Optional[dict[str, list[int]]] = None
_R = I.Register


def codes_for(mnemonic: str) -> list[int]:
    """iced ``Code`` values for a mnemonic (legacy/VEX/EVEX, valid in 64-bit mode)."""
    global _CODES
    if _CODES is None:
        d: dict[str, list[int]] = {}
        for val in sorted(_enum(I.Code)):
            try:
                info = I.OpCodeInfo(val)
            except Exception:
                continue
            if not info.mode64 or info.encoding not in _ENC or not info.is_instruction:
                continue
            d.setdefault(_MNEM.get(info.mnemonic, ""), []).append(val)
        _CODES = d
    return _CODES.get(mnemonic, [])


@dataclass
class Instance:
    """One concrete instruction of a form."""
    raw: bytes
    insn: Insn
    align: int = 1            # alignment the memory operand's address must keep (x86 #GP)
    note: str = ""            # aliasing/variant description


@dataclass
class Form:
    name: str
    entry: Entry
    mnemonic: str
    instances: list[Instance] = field(default_factory=list)

    @property
    def raws(self) -> list[bytes]:
        return [i.raw for i in self.instances]


# ---------------------------------------------------------------------------------------------
# operand kinds -> slots

_VEC_BITS = {"XMM": 128, "YMM": 256, "ZMM": 512}
_IMM_KINDS = {"IMM8": 8, "IMM16": 16, "IMM32": 32, "IMM64": 64, "IMM8SEX16": -8, "IMM8SEX32": -8,
              "IMM8SEX64": -8, "IMM32SEX64": -32}
_FIXED = {"AL": _R.AL, "AX": _R.AX, "EAX": _R.EAX, "RAX": _R.RAX, "CL": _R.CL, "DX": _R.DX}
_GPR_NAMES = {
    64: ["RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI"] + [f"R{i}" for i in range(8, 16)],
    32: ["EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI"] + [f"R{i}D" for i in range(8, 16)],
    16: ["AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI"] + [f"R{i}W" for i in range(8, 16)],
    8: ["AL", "CL", "DL", "BL", "SPL", "BPL", "SIL", "DIL"] + [f"R{i}L" for i in range(8, 16)],
}
_HIGH8 = ["AH", "CH", "DH", "BH"]


class _Skip(Exception):
    pass


def _slot_choices(kind: str, can_bcst: bool) -> list[tuple]:
    """Alternative shapes of one operand: ('vec', bits, regclass) / ('gpr', bits) / ('k',) /
    ('mem',) / ('bcst',) / ('imm', bits) / ('fixed', reg) / ('one',) / ('br',)."""
    name = _OPK.get(kind, "?")
    head = name.split("_")[0]
    mem = ("bcst",) if can_bcst else None
    if name in _FIXED:
        return [("fixed", _FIXED[name])]
    if name == "IMM8_CONST_1":
        return [("one",)]
    if name in _IMM_KINDS:
        return [("imm", _IMM_KINDS[name])]
    if head in ("BR64", "BR32", "BRDISP"):
        return [("br",)]
    if head in _VEC_BITS or head in ("XMMP3", "ZMMP3"):
        bits = _VEC_BITS.get(head[:3])
        if "P3" in head:
            raise _Skip(name)
        reg = [("vec", bits, name)]
        if name.endswith("_OR_MEM"):
            return reg + [("mem",)] + ([mem] if mem else [])
        return reg
    if head == "K" and name in ("K_REG", "K_RM", "K_VVVV", "K_OR_MEM"):
        return [("k",)] + ([("mem",)] if name == "K_OR_MEM" else [])
    m = re.fullmatch(r"R(8|16|32|64)_(REG|RM|VVVV|OPCODE|OR_MEM)", name)
    if m:
        bits = int(m.group(1))
        return [("gpr", bits)] + ([("mem",)] if m.group(2) == "OR_MEM" else [])
    if name == "MEM":
        return [("mem",)] + ([mem] if mem else [])
    m = re.fullmatch(r"MEM_VSIB(?:32|64)([XYZ])", name)   # gathers / scatters, dword or qword indices
    if m:
        return [("vsib", _VEC_BITS[m.group(1) + "MM"])]
    raise _Skip(name)


def _disp_choices(rng: random.Random, n: int) -> int:
    r = rng.random()
    if r < 0.2:
        return 0
    if r < 0.55:                                      # disp8*N compressible
        return n * rng.randint(-128, 127)
    if r < 0.75:
        return rng.choice([1, 3, 5, -7, 0x11, -1, 127, -128, 129])
    return rng.randint(-(1 << 31), (1 << 31) - 1)


def _imm_value(rng: random.Random, bits: int, hints: list) -> int:
    w = abs(bits)
    if hints and rng.random() < 0.6:
        v = int(rng.choice(hints))
    else:
        v = rng.choice([0, 1, (1 << w) - 1, 1 << (w - 1), (1 << (w - 1)) - 1, rng.getrandbits(w),
                        rng.getrandbits(min(w, 6))])
    v &= (1 << w) - 1
    if bits < 0 and v >> (w - 1):                  # sign-extended kinds: keep the signed value
        v -= 1 << w
    return v


@dataclass
class _Pattern:
    code: int
    info: object
    slots: list[tuple]
    masking: str
    rounding: Optional[str]


def _patterns(entry: Entry, mnemonic: str) -> list[_Pattern]:
    out = []
    for code in codes_for(mnemonic):
        info = I.OpCodeInfo(code)
        try:
            per_op = [_slot_choices(info.op_kind(i), info.can_broadcast) for i in range(info.op_count)]
        except _Skip:
            continue
        maskings = ["none"]
        if info.can_use_op_mask_register:
            if "merge" in entry.masking:
                maskings.append("merge")
            if info.can_use_zeroing_masking and "zero" in entry.masking:
                maskings.append("zero")
            if info.require_op_mask_register:
                maskings = [m for m in maskings if m != "none"] or ["merge"]
        for slots in itertools.product(*per_op):
            has_mem = any(s[0] in ("mem", "bcst") for s in slots)
            rounds: list[Optional[str]] = [None]
            if not has_mem and info.can_use_rounding_control:
                rounds.append("er")
            elif not has_mem and info.can_suppress_all_exceptions:
                rounds.append("sae")
            for m in maskings:
                for r in rounds:
                    out.append(_Pattern(code, info, list(slots), m, r))
    return out


_ALIAS_KEYS = ("distinct", "distinct", "d=s1", "d=s2", "s1=s2", "d=s1=s2")


def _instantiate(p: _Pattern, rng: random.Random, alias: str, hints: dict) -> Optional[tuple]:
    evex = p.info.encoding == I.EncodingKind.EVEX
    nvec = 32 if evex else 16
    # choose register numbers per class so that aliasing follows `alias`
    reg_slots = [i for i, s in enumerate(p.slots) if s[0] in ("vec", "gpr", "k")]
    cls = {i: ("gpr" if p.slots[i][0] == "gpr" else p.slots[i][0]) for i in reg_slots}
    pool = {"vec": list(range(nvec)), "gpr": [r for r in range(16) if r != 4], "k": list(range(8))}
    for c in pool:
        rng.shuffle(pool[c])
    num: dict[int, int] = {}
    for i in reg_slots:
        s = p.slots[i]
        choices = pool[cls[i]]
        if s[0] == "vec" and ("_IS4" in s[2] or "_IS5" in s[2]):
            choices = [x for x in choices if x < 16] or [0]
        num[i] = choices.pop(0) if choices else 0
    # aliasing: positions in Intel order; 0 = dst
    def alias_pair(a: int, b: int) -> bool:
        if a < len(p.slots) and b < len(p.slots) and a in num and b in num and cls[a] == cls[b]:
            num[b] = num[a]
            return True
        return False
    ok = True
    if alias == "d=s1":
        ok = alias_pair(0, 1)
    elif alias == "d=s2":
        ok = alias_pair(0, 2)
    elif alias == "s1=s2":
        ok = alias_pair(1, 2)
    elif alias == "d=s1=s2":
        ok = alias_pair(0, 1) and alias_pair(0, 2)
    if not ok:
        return None
    args = []
    mem_size = p.info.memory_size
    align = 1
    for i, s in enumerate(p.slots):
        k = s[0]
        if k == "vec":
            pre = {128: "XMM", 256: "YMM", 512: "ZMM"}[s[1]]
            args.append(("reg", getattr(_R, f"{pre}{num[i]}")))
        elif k == "gpr":
            bits = s[1]
            if bits == 8 and rng.random() < 0.15 and num[i] < 4:
                args.append(("reg", getattr(_R, _HIGH8[num[i]])))
            else:
                args.append(("reg", getattr(_R, _GPR_NAMES[bits][num[i]])))
        elif k == "k":
            args.append(("reg", getattr(_R, f"K{num[i]}")))
        elif k in ("mem", "bcst"):
            regs = [r for r in range(16) if r != 4 and r not in num.values() or rng.random() < 0.2]
            regs = [r for r in regs if r != 4] or [0]
            base = rng.choice(regs)
            index = _R.NONE
            scale = 1
            if rng.random() < 0.5:
                cand = [r for r in range(16) if r not in (4, base)]
                index = getattr(_R, _GPR_NAMES[64][rng.choice(cand)])
                scale = rng.choice([1, 2, 4, 8])
            n = 1
            try:
                ms = I.MemorySizeExt.info(p.info.broadcast_memory_size if k == "bcst" else mem_size)
                n = ms.element_size if k == "bcst" else max(ms.size, 1)
            except Exception:
                pass
            disp = _disp_choices(rng, n if evex else 1)
            args.append(("mem", I.MemoryOperand(getattr(_R, _GPR_NAMES[64][base]), index, scale, disp,
                                                8 if disp else 0, k == "bcst")))
        elif k == "vsib":
            # [base + vreg*scale + disp]: the index register differs from every vector operand
            # (x86 #UD otherwise); states.place_memory sets base and index lanes into the window
            vec_used = {num[j] for j in reg_slots if cls[j] == "vec"}
            gpr_used = {num[j] for j in reg_slots if cls[j] == "gpr"}
            base = rng.choice([r for r in range(16) if r != 4 and r not in gpr_used] or [0])
            pre = {128: "XMM", 256: "YMM", 512: "ZMM"}[s[1]]
            vidx = rng.choice([x for x in range(nvec) if x not in vec_used])
            esz = 1
            try:
                esz = max(I.MemorySizeExt.info(mem_size).size, 1)
            except Exception:
                pass
            disp = _disp_choices(rng, esz if evex else 1)
            args.append(("mem", I.MemoryOperand(getattr(_R, _GPR_NAMES[64][base]), getattr(_R, f"{pre}{vidx}"),
                                                rng.choice([1, 2, 4, 8]), disp, 8 if disp else 0, False)))
        elif k == "imm":
            v = _imm_value(rng, s[1], list(hints.get("imm", []) or []))
            args.append(("u64", v & ((1 << 64) - 1)) if s[1] == 64 else ("i32", _s32(v)))
        elif k == "one":
            args.append(("i32", 1))
        elif k == "fixed":
            args.append(("reg", s[1]))
        elif k == "br":
            # direct branch: a short forward target (fits rel8 and rel32 encodings)
            if len(p.slots) != 1:
                return None
            ins = I.Instruction.create_branch(p.code, INSN_ADDRESS + rng.choice([0x20, 0x40, 0x7E]))
            enc = I.Encoder(64)
            enc.encode(ins, INSN_ADDRESS)
            return enc.take_buffer(), 1
    name = "create" + "".join("_" + a for a, _ in args)
    fn = getattr(I.Instruction, name, None)
    if fn is None:
        return None
    ins = fn(p.code, *[v for _, v in args])
    if p.masking != "none":
        ins.op_mask = getattr(_R, f"K{rng.randint(1, 7)}")
        ins.zeroing_masking = p.masking == "zero"
    if p.rounding == "er":
        ins.rounding_control = rng.choice([I.RoundingControl.ROUND_TO_NEAREST, I.RoundingControl.ROUND_DOWN,
                                           I.RoundingControl.ROUND_UP, I.RoundingControl.ROUND_TOWARD_ZERO])
    elif p.rounding == "sae":
        ins.suppress_all_exceptions = True
    enc = I.Encoder(64)
    enc.encode(ins, INSN_ADDRESS)
    return enc.take_buffer(), align


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _mem_align(insn: Insn) -> int:
    """The address alignment x86 demands of this instruction's memory operand (else #GP)."""
    mem = next((op for op in insn.ops if isinstance(op, Mem)), None)
    if mem is None:
        return 1
    m = insn.mnemonic
    if m == "xchg" or _has_lock(insn.raw):
        return mem.size or 1        # gpr_atomic.yaml: the A64 atomics trap on a misaligned address
    if re.match(r"v?mov(a|dqa|ntdq|ntp)", m) or (insn.encoding == "legacy" and mem.size >= 16
                                                  and not re.match(r"movu|movdqu|lddqu", m)):
        return min(mem.size, 64) or 1
    return 1


def form_instances(entry: Entry, mnemonic: str, rng: random.Random, per_pattern: int = 6) -> dict[str, Form]:
    """Forms of one mnemonic of one entry, with instances."""
    out: dict[str, Form] = {}
    hints = entry.verify or {}
    kinds_ok_cache: dict = {}
    # "lock X" (an entry for the lock-prefixed memory forms of X): X's codes, F0 in front
    lock, base = mnemonic.startswith("lock "), mnemonic[5:] if mnemonic.startswith("lock ") else mnemonic
    for p in _patterns(entry, base):
        if lock and not (p.slots and p.slots[0][0] == "mem"):
            continue
        if any(s[0] in ("mem", "bcst", "vsib") for s in p.slots):
            aliases = ["distinct", "d=s1", "distinct", "d=s1", "distinct", "distinct"][:per_pattern]
        else:
            aliases = list(_ALIAS_KEYS[:per_pattern])
        extra = len(hints.get("imm", []) or []) if any(s[0] == "imm" for s in p.slots) else 0
        aliases += ["distinct"] * extra
        for alias in aliases:
            try:
                r = _instantiate(p, rng, alias, hints)
            except Exception:
                r = None
            if r is None:
                continue
            raw, _ = r
            if lock:
                raw = b"\xf0" + raw
            try:
                insn = decode_one(raw, INSN_ADDRESS)
            except DecodeError:
                continue
            if insn.mnemonic != base or insn.meta.get("other_reg"):
                continue
            kinds = tuple(operand_kind(op) for op in insn.ops)
            acc = kinds_ok_cache.get(kinds)
            if acc is None:
                acc = kinds_ok_cache[kinds] = entry.accepts(list(kinds))
            if not acc:
                continue
            m = "none" if not insn.mask else ("zero" if insn.zeroing else "merge")
            if m not in entry.masking:
                continue
            if any(isinstance(op, Gpr) and op.index == 4 for op in insn.ops):
                continue
            name = f"lock {insn.form}" if lock else insn.form
            f = out.setdefault(name, Form(name, entry, mnemonic))
            if any(i.raw == raw for i in f.instances):
                continue
            f.instances.append(Instance(raw, insn, _mem_align(insn), alias))
    return out


def enumerate_forms(tables: Optional[Tables] = None, seed: int = 0, only: Optional[str] = None,
                    per_form: int = 12) -> dict[str, Form]:
    """All forms the tables claim: form name -> Form (instances, capped at ``per_form``)."""
    tables = tables or default_tables()
    rx = re.compile(only) if only else None
    out: dict[str, Form] = {}
    for entry in tables.all_entries():
        for mn in entry.mnemonics:
            if rx is not None and not rx.search(mn) and not _could_match(rx, mn):
                continue
            rng = random.Random(f"{seed}:{mn}")
            for name, f in form_instances(entry, mn, rng).items():
                if rx is not None and not rx.search(name):
                    continue
                if name in out:
                    out[name].instances.extend(f.instances)
                else:
                    out[name] = f
    for f in out.values():
        if len(f.instances) > per_form:
            # keep variety: round-robin over aliasing notes
            by: dict[str, list] = {}
            for i in f.instances:
                by.setdefault(i.note, []).append(i)
            keep: list[Instance] = []
            while len(keep) < per_form:
                for lst in by.values():
                    if lst and len(keep) < per_form:
                        keep.append(lst.pop(0))
            f.instances = keep
    return dict(sorted(out.items()))


def _could_match(rx: re.Pattern, mnemonic: str) -> bool:
    """Whether a form name of this mnemonic could match (cheap pre-filter for --only)."""
    pat = rx.pattern
    if "|" in pat or "(?" in pat:
        return True
    lead = re.match(r"\^?([a-z0-9]+)", pat)
    if lead and pat.startswith("^"):
        return mnemonic.startswith(lead.group(1)) or lead.group(1).startswith(mnemonic)
    return True


def forms_as_bytes(forms: dict[str, Form]) -> dict[str, list[bytes]]:
    """The plain form -> [instance bytes] view."""
    return {k: f.raws for k, f in forms.items()}
