"""Lowering: one decoded x86 instruction + its mapping-table entry -> A64/SVE assembly lines.

The engine does the work that is the same for every entry, so that entries stay short and read
like the SVE they emit:
- picks the first rule whose ``when``/``test`` match the instruction;
- places operands: vector registers are zN, memory sources are loaded into a temporary
  (``ld1{T}``, or ``ld1r{T}`` for ``{1toN}``), memory destinations are stored back, 8/16-bit GPR
  writes are merged with ``bfi``;
- computes the governing predicate ``{g}`` from the write-mask, ``{z}``, and the vector width;
- zeroes the bits above an xmm/ymm result as VEX/EVEX require;
- appends the x86 NaN fix-up (``nan:``) and wraps embedded rounding;
- tracks where x86 flags live in NZCV (``flags.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..ir import Gpr, Imm, Insn, KReg, Mem, Vec, operand_shape
from . import flags as fl
from .address import Addresser, AddressError, add_imm, mov_imm
from .regmap import LAYOUT_BYTES, SCRATCH_PSPILL, SCRATCH_ZSPILL, X_CTX, X_PF, X_TEMPS, RegAllocError, RegMap, kdst_mem_bits, lane_of
from .tables import Entry, Rule, Tables
from .upper import eligible as zero_eligible

SIZE_OF = {"b": 1, "h": 2, "s": 4, "d": 8, "q": 16}
RMODE = {"rn": 0, "ru": 1, "rd": 2, "rz": 3}     # x86 rounding -> FPCR.RMode


class Unsupported(Exception):
    """The instruction (or this operand shape of it) has no verified lowering."""

    def __init__(self, insn: Insn, reason: str):
        super().__init__(reason)
        self.insn = insn
        self.reason = reason


@dataclass
class UnitContext:
    """What the lowering of one instruction may know about its unit."""
    flags_live_out: set[str] = field(default_factory=lambda: {"CF", "PF", "AF", "ZF", "SF", "OF"})
    label_of: Optional[Callable[[int], str]] = None
    label_counter: list = field(default_factory=lambda: [0])
    outlined: Optional[list] = None      # where out-of-line slow paths go (None: inline only)
    free_z: Optional[list] = None        # vector registers dead after this instruction (temps)
    z_consulted: bool = False            # set when a lowering's result depended on free_z
    zero_above: Optional[frozenset] = None   # vector operands known zero above the dst width
                                             # (lower/upper.py; entries with keeps_zero)
    splat: Optional[frozenset] = None        # (z, "w:0x1"): operands holding a known splat
                                             # over their width (lower/splat.py)
    reuse: Optional[str] = None              # the source operand the next instruction of the
                                             # same kind reads again (rules: when {reuses: src1})


def operand_kind(op) -> str:
    if isinstance(op, Mem):
        return "bcst" if op.bcst else "mem"
    if isinstance(op, Imm):
        return "imm"
    return operand_shape(op)


_K_LABEL, _K_T, _K_PT, _K_PH, _K_XT, _K_WT = (re.compile(p) for p in (
    r"L\d*", r"t\d+", r"pt\d+", r"ph\d+", r"xt\d+", r"wt\d+"))
_PH = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class _Lowering:
    """The state of lowering one instruction."""

    def __init__(self, eng: "Engine", insn: Insn, entry: Entry, ctx: UnitContext, flags_in: dict):
        self.e = eng
        self.rm = eng.rm
        self.insn = insn
        self.entry = entry
        self.ctx = ctx
        self.flags_in = flags_in
        self.pre: list[str] = []
        self.post: list[str] = []
        self.final: list[str] = []
        self.names = list(entry.operands)
        self.ops = dict(zip(self.names, insn.ops))
        self.T = entry.T
        self._xt = list(X_TEMPS)
        used_z = {op.index for op in insn.ops if isinstance(op, Vec)}
        used_z |= {op.index.index for op in insn.ops if isinstance(op, Mem) and isinstance(op.index, Vec)}
        self._used_z = used_z
        pool = ctx.free_z if ctx.free_z is not None else self.rm.free_z
        self._zt = [z for z in pool if z not in used_z]
        self._zspill: list[int] = []
        used_p = set()
        if insn.mask:
            used_p.add(self.rm.k_pred.get(insn.mask))
        for op in insn.ops:
            if isinstance(op, KReg) and op.index in self.rm.k_pred:
                used_p.add(self.rm.k_pred[op.index])
        self._used_p = used_p
        self._pt_low = list(self.rm.free_p_low)
        self._pt_high = list(self.rm.free_p_high)
        self._cache: dict[str, str] = {}
        self.addr = Addresser(self.rm, self.xtemp, ctx.label_of)
        self.vars = self._vars()

    # ---- temporaries ----------------------------------------------------------------------
    def fail(self, reason: str) -> Unsupported:
        return Unsupported(self.insn, reason)

    def xtemp(self) -> str:
        if not self._xt:
            raise self.fail("out of temporary x registers")
        return f"x{self._xt.pop(0)}"

    def ztemp(self) -> str:
        self.ctx.z_consulted = True
        if self._zt:
            z = self._zt.pop(0)
            self._used_z.add(z)         # never handed out again by the spill path below
            return f"z{z}"
        # spill a vector register this instruction does not touch
        for z in range(31, -1, -1):
            if z not in self._used_z and z not in self._zspill:
                slot = len(self._zspill)
                self._zspill.append(z)
                self.pre.insert(0, f"str z{z}, [x{X_CTX}, #{slot + SCRATCH_ZSPILL // (self.rm.vl // 8)}, mul vl]")
                self.final.append(f"ldr z{z}, [x{X_CTX}, #{slot + SCRATCH_ZSPILL // (self.rm.vl // 8)}, mul vl]")
                self._used_z.add(z)
                return f"z{z}"
        raise self.fail("no vector register to spill")

    def ptemp(self, low: bool = True) -> str:
        if self._pt_low:
            return f"p{self._pt_low.pop(0)}"
        if not low and self._pt_high:
            return f"p{self._pt_high.pop(0)}"
        for p in range(7, 0, -1):
            if p not in self._used_p and p != self.rm.p_all and p not in self.rm.p_width.values():
                self._used_p.add(p)
                base = self.xtemp()
                self.pre[:0] = [f"add {base}, x{X_CTX}, #{SCRATCH_PSPILL}", f"str p{p}, [{base}, #{p}, mul vl]"]
                self.final.append(f"ldr p{p}, [{base}, #{p}, mul vl]")
                return f"p{p}"
        raise self.fail("no predicate register free for a temporary")

    def label(self) -> str:
        self.ctx.label_counter[0] += 1
        return f".Lx{self.ctx.label_counter[0]}"

    # ---- condition variables ----------------------------------------------------------------
    def _vars(self) -> dict:
        insn, rm = self.insn, self.rm
        v: dict = dict(self.entry.args)
        v["mask"] = "none" if not insn.mask else ("zero" if insn.zeroing else "merge")
        v["encoding"] = insn.encoding
        v["code"] = insn.code                        # iced Code name (PUSHQ_IMM8 vs PUSHW_IMM8 ...)
        vecs = [op for op in insn.ops if isinstance(op, Vec)]
        bits = max((op.bits for op in vecs), default=0)
        dst = insn.ops[0] if insn.ops else None
        if isinstance(dst, Vec):
            bits = dst.bits
        elif isinstance(dst, KReg) and not vecs:    # k <- m128/m256/m512 (vfpclassps): width from iced
            bits = kdst_mem_bits(insn) or bits
        v["bits"] = bits
        v["width"] = "full" if bits >= rm.vl else "part"
        v["legacy"] = insn.encoding == "legacy"
        for name, op in self.ops.items():
            v[name] = operand_kind(op)
            if isinstance(op, Imm):
                v[name + "_imm"] = op.value
                v[name + "_bits"] = op.bits          # encoded width (push imm16 pushes 2 bytes)
            if isinstance(op, Gpr):
                v[name + "_bits"] = op.bits
                v[name + "_reg"] = op.name          # x86 register name (rules that special-case rsp)
            if isinstance(op, Mem):
                v[name + "_bits"] = op.size * 8
                v[name + "_disp"] = op.disp
                v[name + "_regs"] = " ".join(getattr(r, "name", "") for r in (op.base, op.index) if r is not None)
                v[name + "_scale"] = op.scale        # VSIB gathers pick their offset form by scale
        regs = {n: op for n, op in self.ops.items() if isinstance(op, (Vec, Gpr, KReg))}
        v["dst_is"] = "none"
        if "dst" in regs:
            for n, op in regs.items():
                if n != "dst" and _same_reg(op, regs["dst"]):
                    v["dst_is"] = n
                    break
        live = self.ctx.flags_live_out
        v["flags"] = "live" if live else "dead"
        for f in ("CF", "ZF", "SF", "OF"):         # where each incoming flag lives (adc/sbb: in_CF)
            v["in_" + f] = str(self.flags_in.get(f, "none"))
        v["rounding"] = insn.rounding or "none"
        v["reuses"] = self.ctx.reuse or "none"
        v["lane"] = self._lane() is not None
        if self.ctx.splat:                          # {src2_splat: "w:0x1"} (lower/splat.py)
            known = dict(self.ctx.splat)
            for n, op in self.ops.items():
                if isinstance(op, Vec) and op.index in known:
                    v[f"{n}_splat"] = known[op.index]
        if self.entry.reads_flags:
            plan = fl.arm_condition(fl.cc_of(insn.mnemonic), self.flags_in)
            if plan is None:
                raise self.fail(f"condition {fl.cc_of(insn.mnemonic)} needs flags that are not "
                                f"available here ({_flags_str(self.flags_in)})")
            v["cond"] = plan[0]
            v["always"] = plan[1] if plan[0] in ("const", "parity") else None   # taken or not / PF wanted
            self.plan = plan
        # governing predicate
        v["zeroing"] = False
        v["gfull"] = True
        if self.T and bits:
            if v["legacy"] and bits < rm.vl:
                v["gfull"] = False
            elif insn.mask:
                v["gfull"] = False
                v["zeroing"] = insn.zeroing
        return v

    def matches(self, rule: Rule) -> bool:
        for key, want in rule.when.items():
            have = self.vars.get(key)
            wants = want if isinstance(want, list) else [want]
            if not any(_eq(have, w) for w in wants):
                return False
        if rule.test:
            env = {k: v for k, v in self.vars.items()}
            for n, op in self.ops.items():
                if isinstance(op, Imm):
                    env[n] = op.value
            try:
                if not eval(rule.test, {"__builtins__": {}}, env):   # noqa: S307 (table expressions)
                    return False
            except Exception as ex:
                raise self.fail(f"rule test {rule.test!r} failed: {ex}") from None
        return True

    # ---- predicates -----------------------------------------------------------------------
    def kpred(self, k: int, T: str) -> str:
        """Predicate register holding mask k in layout T (converted into a temporary if needed)."""
        key = f"k{k}:{T}"
        if key in self._cache:
            return self._cache[key]
        try:
            home = self.rm.p_of_k(k)
        except RegAllocError as ex:
            raise self.fail(str(ex)) from None
        L = self.rm.layout_of_k(k)
        if L == T:
            r = f"p{home}"
        else:
            r = self.ptemp()
            spare = self.ptemp() if abs("bhsd".index(L) - "bhsd".index(T)) > 1 else None
            self.pre += convert_layout(f"p{home}", L, T, r, spare)
        self._cache[key] = r
        return r

    def governing(self) -> str:
        if "g" in self._cache:
            return self._cache["g"]
        insn, rm, T = self.insn, self.rm, self.T or "b"
        bits = self.vars["bits"]
        if self.vars["legacy"] and bits < rm.vl:
            g = f"p{self._width_pred(bits)}"
        elif insn.mask:
            g = self.kpred(insn.mask, T)
        else:
            g = f"p{rm.p_all}"
        self._cache["g"] = g
        return g

    def mem_pred(self) -> str:
        """Predicate for memory accesses: exactly the bytes x86 touches (mask and width)."""
        if "gm" in self._cache:
            return self._cache["gm"]
        insn, rm, T = self.insn, self.rm, self.T or "b"
        bits = self.vars["bits"]
        pw = f"p{self._width_pred(bits)}"
        if not insn.mask:
            g = pw
        else:
            pk = self.kpred(insn.mask, T)
            if bits >= rm.vl:
                g = pk                 # a layout-T mask never has lanes beyond the vector
            else:
                g = self.ptemp()
                self.pre.append(f"and {g}.b, {pw}/z, {pk}.b, {pk}.b")
        self._cache["gm"] = g
        return g

    def _lane(self) -> Optional[int]:
        lane = lane_of(self.insn, self.T) if self.rm.p_lane else None
        return None if lane is None else self.rm.lane_pred(*lane)

    def _width_pred(self, bits: int) -> int:
        try:
            return self.rm.width_pred(bits)
        except RegAllocError as ex:
            raise self.fail(str(ex)) from None

    # ---- operands -------------------------------------------------------------------------
    def resolve(self, key: str, spec: Optional[str]) -> str:
        v = self.vars
        if key == "T":
            return self.T or "b"
        if key == "g":
            return self.governing()
        if key == "gm":
            return self.mem_pred()
        if key == "zm":
            return "z" if v["zeroing"] else "m"
        if key == "live":              # {live:zN}: keep this line only if zN is live afterwards
            self.ctx.z_consulted = True
            fz = self.ctx.free_z
            return "\0" if fz is not None and int(spec[1:]) in fz else ""
        if key == "pall":
            return f"p{self.rm.p_all}"
        if key == "pw":
            return f"p{self._width_pred(v['bits'])}"
        if key == "lane":              # the one-element predicate of the element imm selects
            p = self._lane()
            if p is None:
                raise self.fail("no predicate for this element in the unit (rule needs lane: yes)")
            return f"p{p}"
        if key == "khome":             # the write-mask's home predicate (gathers clear k)
            try:
                return f"p{self.rm.p_of_k(self.insn.mask)}"
            except RegAllocError as ex:
                raise self.fail(str(ex)) from None
        if key == "k":
            return self.kpred(self.insn.mask, self.T or "s") if self.insn.mask else f"p{self.rm.p_all}"
        if key == "s":
            return "s" if self.ctx.flags_live_out else ""
        if key in ("cc", "cc1", "cc2", "ncc1", "ncc2"):
            plan = self.plan
            if key == "cc":
                return plan[1]
            c = plan[1] if key.endswith("1") else plan[2]
            return fl.INVERT[c] if key.startswith("n") else c
        if key == "target":
            return self._target_label()
        if key == "next":
            if self.ctx.label_of is None:
                raise self.fail("the next instruction has no label outside a translated unit")
            return self.ctx.label_of(self.insn.next_address)
        if key == "ctx":
            return f"x{X_CTX}"
        if key == "pf":                # the PF byte's home (flags.py location "P")
            return f"w{X_PF}"
        if key == "rsp":
            return f"x{self.rm.x_of(4)}"
        if _K_LABEL.fullmatch(key):
            if key not in self._cache:
                self._cache[key] = self.label()
            return self._cache[key]
        if _K_T.fullmatch(key):
            if key not in self._cache:
                self._cache[key] = self.ztemp()
            return self._cache[key]
        if _K_PT.fullmatch(key):
            if key not in self._cache:
                self._cache[key] = self.ptemp(low=True)
            return self._cache[key]
        if _K_PH.fullmatch(key):
            if key not in self._cache:
                self._cache[key] = self.ptemp(low=False)
            return self._cache[key]
        if _K_XT.fullmatch(key):
            if key not in self._cache:
                self._cache[key] = self.xtemp()
            return self._cache[key]
        if _K_WT.fullmatch(key):
            return "w" + self.resolve("x" + key[1:], None)[1:]
        if key == "calc":              # {calc:EXPR}: EXPR over the rule-test names (immediates by value)
            env = dict(self.vars)
            env.update({n: op.value for n, op in self.ops.items() if isinstance(op, Imm)})
            try:
                return str(eval(spec or "", {"__builtins__": {}}, env))   # noqa: S307 (table expressions)
            except Exception as ex:
                raise self.fail(f"{{calc:{spec}}} failed: {ex} ({self.entry.where})") from None
        if key in self.entry.args:
            return str(self.entry.args[key])
        base, _, suffix = key.partition("_")
        if base in self.ops:
            return self.operand(base, suffix, spec)
        raise self.fail(f"table placeholder {{{key}}} is unknown ({self.entry.where})")

    def _target_label(self) -> str:
        t = self.insn.target
        if t is None or self.ctx.label_of is None:
            raise self.fail("branch target outside the translated code")
        return self.ctx.label_of(t)

    def operand(self, name: str, suffix: str, spec: Optional[str]) -> str:
        op = self.ops[name]
        if isinstance(op, Imm):
            val = op.value
            if suffix == "u":
                bits = self.vars.get("dst_bits", 64) or 64
                return str(val & ((1 << bits) - 1))
            if suffix == "neg":
                return str(-val)
            if suffix == "r":          # immediate placed in a register
                key = f"{name}_r"
                if key not in self._cache:
                    bits = self.vars.get("dst_bits", 64) or 64
                    t = self.xtemp()
                    self.pre += mov_imm(t, val & ((1 << 64) - 1) if bits == 64 else val & 0xFFFFFFFF)
                    self._cache[key] = t if bits == 64 else "w" + t[1:]
                return self._cache[key]
            if suffix == "hex":
                return hex(val)
            return str(val)
        if isinstance(op, Vec):
            return f"z{op.index}"
        if isinstance(op, KReg):
            if suffix == "home":
                return f"p{self.rm.p_of_k(op.index)}"
            if name == "dst":
                # written: produce in the entry's layout, convert to home afterwards
                key = "kdst"
                if key not in self._cache:
                    home = f"p{self.rm.p_of_k(op.index)}"
                    L = self.rm.layout_of_k(op.index)
                    T = self.T or L
                    if T == L:
                        self._cache[key] = home
                    else:
                        t = self.ptemp()
                        self.post += convert_layout(t, T, L, home, spare=t)
                        self._cache[key] = t
                return self._cache[key]
            return self.kpred(op.index, self.T or self.rm.layout_of_k(op.index))
        if isinstance(op, Gpr):
            r = self._gpr(name, op, suffix)
            return "w" + r[1:] if spec == "w" else r     # {op:w}: the 32-bit view of the operand
        if isinstance(op, Mem):
            r = self._mem(name, op, suffix, spec)
            return "w" + r[1:] if spec == "w" and suffix == "" else r
        raise self.fail(f"operand {name} of unexpected type")

    def _gpr(self, name: str, op: Gpr, suffix: str) -> str:
        x = self.rm.x_of(op.index)
        if suffix == "x":
            return f"x{x}"
        if suffix == "w":
            return f"w{x}"
        if op.bits == 64:
            return f"x{x}"
        if op.bits == 32:
            return f"w{x}"
        # 8/16-bit register
        written = name == "dst"
        key = f"narrow_{name}"
        if key in self._cache:
            return self._cache[key]
        if written or op.high8:
            t = self.xtemp()
            tw = "w" + t[1:]
            if op.high8:
                self.pre.append(f"ubfx {t}, x{x}, #8, #8")
                if written:
                    self.post.append(f"bfi x{x}, {t}, #8, #8")
            elif written and (name in self.entry.rw):
                self.pre.append(f"mov {tw}, w{x}")
                self.post.append(f"bfi x{x}, {t}, #0, #{op.bits}")
            elif written:
                self.post.append(f"bfi x{x}, {t}, #0, #{op.bits}")
            self._cache[key] = tw
            return tw
        self._cache[key] = f"w{x}"
        return f"w{x}"

    def _mem(self, name: str, op: Mem, suffix: str, spec: Optional[str]) -> str:
        T = self.T or "b"
        try:
            if suffix == "index" and isinstance(op.index, Vec):      # VSIB index vector
                return f"z{op.index.index}"
            if suffix == "addr" and spec == "vsib":                   # VSIB: base + disp
                key = f"vsib_{name}"
                if key not in self._cache:
                    lines, reg = self.addr.vsib_base(op)
                    self.pre += lines
                    self._cache[key] = reg
                return self._cache[key]
            if suffix == "addr":
                mode = spec or "x"
                if mode == "x":
                    lines, reg = self.addr.full(op)
                    self.pre += lines
                    return reg
                if mode == "sve":
                    lines, text = self.addr.sve(op, SIZE_OF[T])
                elif mode == "r":
                    lines, text = self.addr.replicate(op, op.size or SIZE_OF[T])
                elif mode.startswith("gpr"):
                    lines, text = self.addr.gpr(op, int(mode[3:] or op.size))
                else:
                    raise self.fail(f"unknown address mode {mode!r}")
                self.pre += lines
                return text
        except AddressError as ex:
            raise self.fail(str(ex)) from None
        key = f"mem_{name}"
        if key in self._cache:
            return self._cache[key]
        vector = self.T is not None and self.vars["bits"]
        read = name != "dst" or name in self.entry.rw
        written = name == "dst"
        if vector:
            t = self.ztemp()
            esize = SIZE_OF[T] if T != "q" else 8
            Tl = T if T != "q" else "d"
            try:
                if op.bcst:
                    lines, text = self.addr.replicate(op, op.size)
                    Tb = {1: "b", 2: "h", 4: "s", 8: "d"}[op.size]
                    self.pre += lines + [f"ld1r{Tb if Tb != 's' else 'w'} {{{t}.{Tb}}}, p{self.rm.p_all}/z, {text}"]
                elif read or written:
                    if op.size * 8 != self.vars["bits"]:
                        raise self.fail(f"memory operand of {op.size * 8} bits with {self.vars['bits']}-bit "
                                        f"vectors needs an explicit rule ({self.entry.where})")
                    lines, text = self.addr.sve(op, esize)
                    self.pre += lines
                    ld = {"b": "ld1b", "h": "ld1h", "s": "ld1w", "d": "ld1d"}[Tl]
                    st = "st" + ld[2:]
                    if read:
                        self.pre.append(f"{ld} {{{t}.{Tl}}}, {self.mem_pred()}/z, {text}")
                    if written:
                        self.post.append(f"{st} {{{t}.{Tl}}}, {self.mem_pred()}, {text}")
            except AddressError as ex:
                raise self.fail(str(ex)) from None
            self._cache[key] = t
            return t
        # GPR-sized memory operand
        size = op.size
        if size not in (1, 2, 4, 8):
            raise self.fail(f"{size}-byte memory operand needs an explicit rule")
        try:
            lines, text = self.addr.gpr(op, size)
        except AddressError as ex:
            raise self.fail(str(ex)) from None
        self.pre += lines
        t = self.xtemp()
        reg = t if size == 8 else "w" + t[1:]
        ld = {1: "ldrb", 2: "ldrh", 4: "ldr", 8: "ldr"}[size]
        st = {1: "strb", 2: "strh", 4: "str", 8: "str"}[size]
        if read:
            self.pre.append(f"{ld} {reg}, {text}")
        if written:
            self.post.append(f"{st} {reg}, {text}")
        self._cache[key] = reg
        return reg

    # ---- rendering --------------------------------------------------------------------------
    def render(self, template: str) -> str:
        return _PH.sub(lambda m: _fp_view(self.resolve(m.group(1), m.group(2)), m.group(2)), template)


def _fp_view(text: str, spec: Optional[str]) -> str:
    """``{x:s}`` / ``{x:d}`` ...: the scalar FP register view (sN, dN) of vector register zN."""
    if spec in ("b", "h", "s", "d", "q") and text[:1] == "z" and text[1:].isdigit():
        return spec + text[1:]
    return text


def _eq(have, want) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return bool(have) == (want in (True, "yes", "true") if not isinstance(want, bool) else want)
    if want == "yes":
        return bool(have) and have not in ("no", "none")
    if want == "no":
        return not have or have in ("no", "none")
    if isinstance(have, str) and isinstance(want, str) and want in ("vec", "gpr"):
        return have in (("zmm", "ymm", "xmm") if want == "vec" else ("r8", "r16", "r32", "r64", "r8h"))
    return str(have) == str(want)


def _same_reg(a, b) -> bool:
    if type(a) is not type(b):
        return False
    return a.index == b.index and getattr(a, "high8", False) == getattr(b, "high8", False)


def _flags_str(st: dict) -> str:
    return ", ".join(f"{k}->{v}" for k, v in sorted(st.items())) or "no flags known"


def convert_layout(src: str, L: str, T: str, dst: str, spare: Optional[str] = None) -> list[str]:
    """Lines that copy mask predicate ``src`` from layout L into layout T in ``dst``.

    A pack of more than one step (e.g. s -> b) needs ``spare``, a predicate that may be
    clobbered after the first step (``src`` itself when it is a temporary)."""
    order = ["b", "h", "s", "d"]
    i, j = order.index(L), order.index(T)
    lines: list[str] = []
    cur = src
    if j > i:          # coarser: spread bits apart (bit n -> bit 2n) with punpklo
        # never in place where a spare is given (each step reads another register than it
        # writes), so that a repeat with k unchanged is a pure recomputation (peephole.py)
        steps = j - i
        for n in range(steps):
            o = dst if spare is None or (steps - n) % 2 == 1 else spare
            lines.append(f"punpklo {o}.h, {cur}.b")
            cur = o
    elif j < i:        # finer: pack bits together with uzp1 against an all-false predicate
        for step in range(i - j):
            size = order[i - step - 1]
            if step == 0:
                if cur == dst:
                    raise ValueError("in-place pack")
                lines += [f"pfalse {dst}.b", f"uzp1 {dst}.{size}, {cur}.{size}, {dst}.{size}"]
            else:
                if spare is None or spare == dst:
                    raise NotImplementedError("multi-step pack needs a spare predicate")
                if step == 1:
                    lines.append(f"pfalse {spare}.b")
                lines.append(f"uzp1 {dst}.{size}, {dst}.{size}, {spare}.{size}")
            cur = dst
    else:
        lines.append(f"mov {dst}.b, {src}.b")
    return lines


_MOVPRFX_ALL = re.compile(r"^movprfx (z\d+)\.[bhsd], (p\d+)/m, (z\d+)\.[bhsd]$")


class Engine:
    """Lowers instructions of one unit with one register map."""

    def __init__(self, tables: Tables, rm: RegMap, nan_mode: str = "exact"):
        self.tables = tables
        self.rm = rm
        self.nan_mode = nan_mode

    def entry_for(self, insn: Insn) -> Entry:
        lock = _has_lock(insn.raw)      # an entry "lock X" takes X's lock-prefixed forms
        entry = (lock and self.tables.entry_for("lock " + insn.mnemonic)) or self.tables.entry_for(insn.mnemonic)
        if entry is None:
            raise Unsupported(insn, f"no mapping-table entry for {insn.mnemonic}")
        kinds = [operand_kind(op) for op in insn.ops]
        if not entry.accepts(kinds):
            raise Unsupported(insn, f"operand shape {insn.form} is not in the entry ({entry.where})")
        if lock and not entry.atomic:
            raise Unsupported(insn, "lock prefix: this entry's lowering is not atomic")
        for op in insn.ops:
            if isinstance(op, Vec) and op.bits > self.rm.vl:
                raise Unsupported(insn, f"{op.name} does not fit a {self.rm.vl}-bit SVE vector")
        m = "none" if not insn.mask else ("zero" if insn.zeroing else "merge")
        if m not in entry.masking:
            raise Unsupported(insn, f"masking {m} is not supported by the entry ({entry.where})")
        return entry

    def lower(self, insn: Insn, ctx: UnitContext, flags_in: dict) -> tuple[list[str], dict]:
        """Returns (A64 lines, flag state after)."""
        entry = self.entry_for(insn)
        lo = _Lowering(self, insn, entry, ctx, flags_in)
        rule = next((r for r in entry.rules if lo.matches(r)), None)
        if rule is None:
            raise Unsupported(insn, f"no rule of {entry.where} matches {insn.form}")
        body = [b for b in (lo.render(s) for s in rule.sve) if "\0" not in b]   # {live:zN} dropped
        if entry.nan and self.nan_mode == "exact":
            body = self._nan_fixup(lo, entry, body)
        if insn.rounding and entry.T:
            body = self._with_rounding(lo, insn.rounding, body)
        pf = self._pf_lines(lo, entry, rule, ctx)
        if pf:
            body = body + pf
        if entry.data:     # the entry's constants: in the unit's out-of-line area, else jumped over
            data = [".balign 8"] + [lo.render(s) for s in entry.data]
            if ctx.outlined is not None:
                ctx.outlined.extend(data)
            else:
                skip = lo.label()
                body = [f"b {skip}"] + data + [f"{skip}:"] + body
        post_zero = []
        if (lo.vars["bits"] and entry.T and lo.vars["width"] == "part" and not lo.vars["legacy"]
                and isinstance(insn.ops[0], Vec)):
            za = ctx.zero_above
            if not ((entry.keeps_zero or rule.keeps_zero) and za is not None and zero_eligible(insn)
                    and all(op.index in za for op in insn.ops if isinstance(op, Vec))):
                post_zero = self._zero_upper(lo, lo.render("{dst}"), lo.vars["bits"])
        lines = lo.pre + body + post_zero + lo.post + lo.final
        keep_nzcv = ("nzcv" in entry.clobbers and entry.flags is None and bool(ctx.flags_live_out)
                     and any(str(v) not in ("0", "1") for v in flags_in.values()))
        if keep_nzcv:      # x86 vector ops never write RFLAGS: keep NZCV around SVE compares
            t = lo.xtemp()
            lines = [f"mrs {t}, nzcv"] + lines + [f"msr nzcv, {t}"]
        lines = _peephole(lines, f"p{self.rm.p_all}")
        flags_out = dict(flags_in) if keep_nzcv else self._flags_after(lo, entry, rule, flags_in)
        if pf:
            flags_out["PF"] = "P"
        return lines, flags_out

    # ---- shared steps ---------------------------------------------------------------------
    def _zero_upper(self, lo: _Lowering, dst: str, bits: int) -> list[str]:
        if bits in self.rm.p_upper:
            return [f"mov {dst}.b, p{self.rm.p_upper[bits]}/m, #0"]
        p = lo.ptemp(low=False)
        return [f"not {p}.b, p{self.rm.p_all}/z, p{lo._width_pred(bits)}.b", f"mov {dst}.b, {p}/m, #0"]

    def _nan_fixup(self, lo: _Lowering, entry: Entry, body: list[str]) -> list[str]:
        """x86 NaN results: the first NaN source (in x86 priority), quieted; else the x86 default
        NaN (sign set). SVE picks signalling NaNs first and a positive default NaN."""
        T = entry.T
        srcs = [lo.render("{" + n + "}") for n in entry.nan]
        dst = lo.render("{dst}")
        g = lo.governing()
        pn = lo.ptemp()
        ps = lo.ptemp(low=False)
        quiet = {"s": 0x400000, "d": 0x8000000000000, "h": 0x200}[T]
        outline = lo.ctx.outlined is not None and not lo.ctx.flags_live_out
        if outline:
            # the quiet-bit constant is only needed on the slow path: spill there if no temp is free
            lo.ctx.z_consulted = True
            if lo._zt:
                q, keep = lo.ztemp(), ([], [])
            else:
                qn = next(z for z in range(31, -1, -1) if z not in lo._used_z and z not in lo._zspill)
                lo._used_z.add(qn)
                q = f"z{qn}"
                slot = SCRATCH_ZSPILL // (self.rm.vl // 8) + 7
                keep = ([f"str {q}, [x{X_CTX}, #{slot}, mul vl]"], [f"ldr {q}, [x{X_CTX}, #{slot}, mul vl]"])
            # Fast path inline: any NaN lane? The fix-up runs out of line, after the unit.
            save = lo.ztemp() if dst in srcs else None
            lines = ([f"mov {save}.d, {dst}.d"] if save else []) + list(body)
            srcs = [save if s == dst else s for s in srcs]
            back, slow = lo.label(), lo.label()
            lines += [f"fcmuo {pn}.{T}, {g}/z, {dst}.{T}, {dst}.{T}", f"ptest {g}, {pn}.b",
                      f"b.ne {slow}", f"{back}:"]
            fix = ([f"{slow}:"] + keep[0] + self._nan_select(dst, srcs, pn, ps, q, T, quiet)
                   + keep[1] + [f"b {back}"])
            lo.ctx.outlined.extend(fix)
            return lines
        q = lo.ztemp()
        lines = list(body)
        r = dst
        aliased = dst in srcs
        if aliased:
            r = lo.ztemp()
            lines = [f"mov {r}.d, {dst}.d"] + [_rename_reg(l, dst, r) for l in body]
        lines += [f"fcmuo {pn}.{T}, {g}/z, {r}.{T}, {r}.{T}"]
        lines += self._nan_select(r, srcs, pn, ps, q, T, quiet)
        if aliased:
            lines.append(f"mov {dst}.d, {r}.d")
        return lines

    @staticmethod
    def _nan_select(r: str, srcs: list[str], pn: str, ps: str, q: str, T: str, quiet: int) -> list[str]:
        """In the NaN lanes ``pn`` of ``r``: x86's default NaN, or the first NaN source, quieted."""
        lines = [f"fneg {r}.{T}, {pn}/m, {r}.{T}"]       # SVE's default NaN is positive, x86's negative
        for s in reversed(srcs):
            lines += [f"fcmuo {ps}.{T}, {pn}/z, {s}.{T}, {s}.{T}", f"mov {r}.{T}, {ps}/m, {s}.{T}"]
        lines += [f"mov {q}.{T}, #{quiet:#x}", f"orr {r}.{T}, {pn}/m, {r}.{T}, {q}.{T}"]
        return lines

    def _with_rounding(self, lo: _Lowering, mode: str, body: list[str]) -> list[str]:
        save, new = lo.xtemp(), lo.xtemp()
        return ([f"mrs {save}, fpcr", f"and {new}, {save}, #0xffffffffff3fffff"]
                + ([f"orr {new}, {new}, #{RMODE[mode] << 22:#x}"] if RMODE[mode] else [])
                + [f"msr fpcr, {new}"] + body + [f"msr fpcr, {save}"])

    @staticmethod
    def _pf_lines(lo: _Lowering, entry: Entry, rule: Rule, ctx: UnitContext) -> list[str]:
        """PF, when live and the rule sets the flags: the first matching ``pf:`` rule of the
        entry leaves the result's low byte in {pf} (w27; flags.py location "P")."""
        spec = rule.flags if rule.flags is not None else entry.flags
        if not entry.pf or "PF" not in ctx.flags_live_out or not spec or "PF" in spec:
            return []
        r = next((r for r in entry.pf if lo.matches(r)), None)
        return [lo.render(s) for s in r.sve] if r else []

    def _flags_after(self, lo: _Lowering, entry: Entry, rule: Rule, flags_in: dict) -> dict:
        spec = rule.flags if rule.flags is not None else entry.flags
        if spec is not None:
            conditional = any("{s}" in s for s in rule.sve)
            if lo.ctx.flags_live_out or not conditional:
                return {k: str(v) for k, v in spec.items()}
            return {}
        if "nzcv" in entry.clobbers:
            return {}
        return dict(flags_in)


_LEGACY_PREFIXES = frozenset((0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65))


def _has_lock(raw: bytes) -> bool:
    """Whether the legacy prefixes of an instruction include LOCK (0xF0)."""
    for b in raw:
        if b == 0xF0:
            return True
        if b not in _LEGACY_PREFIXES:
            return False
    return False


def _rename_reg(line: str, old: str, new: str) -> str:
    return re.sub(rf"\b{old}\b", new, line)


def _peephole(lines: list[str], p_all: str) -> list[str]:
    out = []
    for l in lines:
        m = _MOVPRFX_ALL.match(l)
        if m and m.group(2) == p_all:
            if m.group(1) == m.group(3):
                continue                       # movprfx zN, zN is a no-op
            l = f"movprfx {m.group(1)}, {m.group(3)}"
        m2 = re.match(r"^movprfx (z\d+), (z\d+)$", l)
        if m2 and m2.group(1) == m2.group(2):
            continue
        out.append(l)
    return out
