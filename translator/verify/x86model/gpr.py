"""General-purpose integer instructions with exact RFLAGS (CF PF AF ZF SF OF).

Flags that the SDM leaves undefined are still given a value (the one most hardware produces where
obvious) but are reported in ``Machine.undef`` so the verifier can ignore them.
"""
from __future__ import annotations

from ...ir import Gpr, Imm, Mem
from .core import AF, CF, M64, OF, PF, SF, ZF, Machine, X86Fault

HANDLERS: dict = {}

_PARITY = [int(bin(i).count("1") % 2 == 0) for i in range(256)]


def reg(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def width(op) -> int:
    if isinstance(op, Gpr):
        return op.bits
    if isinstance(op, Mem):
        return op.size * 8
    raise TypeError(op)


def signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def szp(r: int, bits: int) -> int:
    """SF, ZF, PF of a result."""
    r &= (1 << bits) - 1
    return ((SF if r >> (bits - 1) else 0) | (ZF if r == 0 else 0) | (PF if _PARITY[r & 0xFF] else 0))


def set_flags(mc: Machine, mask: int, value: int, undefined: int = 0) -> None:
    mc.st.rflags = (mc.st.rflags & ~mask) | (value & mask)
    mc.undef |= undefined


def add_flags(a: int, b: int, cin: int, bits: int) -> tuple[int, int]:
    m = (1 << bits) - 1
    full = a + b + cin
    r = full & m
    f = szp(r, bits)
    if full >> bits:
        f |= CF
    if ((a ^ r) & (b ^ r)) >> (bits - 1) & 1:
        f |= OF
    if (a ^ b ^ r) & 0x10:
        f |= AF
    return r, f


def sub_flags(a: int, b: int, bin_: int, bits: int) -> tuple[int, int]:
    m = (1 << bits) - 1
    r = (a - b - bin_) & m
    f = szp(r, bits)
    if a < b + bin_:
        f |= CF
    if ((a ^ b) & (a ^ r)) >> (bits - 1) & 1:
        f |= OF
    if (a ^ b ^ r) & 0x10:
        f |= AF
    return r, f


ALL6 = CF | PF | AF | ZF | SF | OF


def _binop(mc: Machine):
    dst, src = mc.insn.ops[:2]
    bits = width(dst)
    return dst, bits, mc.value(dst, bits), mc.value(src, bits)


@reg("add", "adc", "sub", "sbb", "cmp")
def arith(mc: Machine) -> None:
    mn = mc.insn.mnemonic
    dst, bits, a, b = _binop(mc)
    c = mc.st.rflags & CF if mn in ("adc", "sbb") else 0
    if mn in ("add", "adc"):
        r, f = add_flags(a, b, c, bits)
    else:
        r, f = sub_flags(a, b, c, bits)
    if mn != "cmp":
        mc.store(dst, r, bits)
    set_flags(mc, ALL6, f)


@reg("and", "or", "xor", "test")
def logic(mc: Machine) -> None:
    mn = mc.insn.mnemonic
    dst, bits, a, b = _binop(mc)
    r = {"and": a & b, "test": a & b, "or": a | b, "xor": a ^ b}[mn]
    if mn != "test":
        mc.store(dst, r, bits)
    set_flags(mc, ALL6, szp(r, bits), undefined=AF)   # CF = OF = 0, AF undefined (left 0)


@reg("inc", "dec")
def incdec(mc: Machine) -> None:
    dst = mc.insn.ops[0]
    bits = width(dst)
    a = mc.value(dst, bits)
    r, f = (add_flags if mc.insn.mnemonic == "inc" else sub_flags)(a, 1, 0, bits)
    mc.store(dst, r, bits)
    set_flags(mc, ALL6 & ~CF, f)                   # CF unchanged


@reg("neg")
def neg(mc: Machine) -> None:
    dst = mc.insn.ops[0]
    bits = width(dst)
    r, f = sub_flags(0, mc.value(dst, bits), 0, bits)
    mc.store(dst, r, bits)
    set_flags(mc, ALL6, f)                         # CF = (src != 0)


@reg("not")
def not_(mc: Machine) -> None:
    dst = mc.insn.ops[0]
    bits = width(dst)
    mc.store(dst, ~mc.value(dst, bits), bits)


@reg("mov")
def mov(mc: Machine) -> None:
    dst, src = mc.insn.ops
    if not isinstance(dst, (Gpr, Mem)) or not isinstance(src, (Gpr, Mem, Imm)):
        raise mc.unmodelled("mov with segment/control/debug register")
    bits = width(dst)
    mc.store(dst, mc.value(src, bits), bits)


@reg("movzx", "movsx", "movsxd")
def movx(mc: Machine) -> None:
    dst, src = mc.insn.ops
    sb = width(src)
    v = mc.value(src, sb)
    if mc.insn.mnemonic != "movzx":
        v = signed(v, sb)
    mc.store(dst, v, dst.bits)


@reg("cbw", "cwde", "cdqe")
def cbw(mc: Machine) -> None:
    bits = {"cbw": 16, "cwde": 32, "cdqe": 64}[mc.insn.mnemonic]
    a = mc.get(Gpr(0, bits // 2))
    mc.set(Gpr(0, bits), signed(a, bits // 2))


@reg("cwd", "cdq", "cqo")
def cwd(mc: Machine) -> None:
    bits = {"cwd": 16, "cdq": 32, "cqo": 64}[mc.insn.mnemonic]
    a = mc.get(Gpr(0, bits))
    mc.set(Gpr(2, bits), -1 if a >> (bits - 1) else 0)


@reg("lea")
def lea(mc: Machine) -> None:
    dst, src = mc.insn.ops
    mc.set(dst, mc.ea(src))


@reg("xchg")
def xchg(mc: Machine) -> None:
    a, b = mc.insn.ops
    bits = width(a)
    va, vb = mc.value(a, bits), mc.value(b, bits)
    mc.store(a, vb, bits)
    mc.store(b, va, bits)


@reg("nop", "pause", "endbr64", "endbr32", "lfence", "sfence", "mfence",
     "prefetcht0", "prefetcht1", "prefetcht2", "prefetchnta", "prefetchw", "prefetchwt1")
def nop(mc: Machine) -> None:
    """No architectural effect; prefetches never fault, multi-byte nops do not access memory."""


# ---- shifts and rotates ----------------------------------------------------------------------

def _count(mc: Machine, bits: int) -> int:
    c = mc.value(mc.insn.ops[1], 8) if len(mc.insn.ops) > 1 else 1
    return c & (0x3F if bits == 64 else 0x1F)


@reg("shl", "sal", "shr", "sar")
def shift(mc: Machine) -> None:
    """Count masked to 5 bits (6 for 64-bit). Count 0: nothing changes (flags included). OF is
    defined only for count 1, AF is undefined, CF is undefined for SHL/SHR when the count is at
    least the operand width (8/16-bit operands)."""
    mn = mc.insn.mnemonic
    dst = mc.insn.ops[0]
    bits = width(dst)
    m = (1 << bits) - 1
    a = mc.value(dst, bits)
    c = _count(mc, bits)
    if c == 0:
        mc.store(dst, a, bits)           # a 32-bit register destination is still zero-extended
        return
    if mn in ("shl", "sal"):
        r = (a << c) & m
        cf = (a >> (bits - c)) & 1 if c <= bits else 0
        of = ((r >> (bits - 1)) & 1) ^ cf
    elif mn == "shr":
        r = a >> c
        cf = (a >> (c - 1)) & 1
        of = a >> (bits - 1) & 1
    else:
        s = signed(a, bits)
        r = (s >> c) & m
        cf = (s >> (c - 1)) & 1 if c <= bits else (a >> (bits - 1)) & 1
        of = 0
    mc.store(dst, r, bits)
    undef = AF | (OF if c != 1 else 0)
    if c >= bits and mn != "sar":
        undef |= CF
    set_flags(mc, ALL6, szp(r, bits) | (CF if cf else 0) | (OF if of else 0), undefined=undef)


@reg("rol", "ror")
def rotate(mc: Machine) -> None:
    """Only CF and OF change; count 0 (after masking) changes nothing; OF defined for count 1."""
    dst = mc.insn.ops[0]
    bits = width(dst)
    m = (1 << bits) - 1
    a = mc.value(dst, bits)
    c = _count(mc, bits)
    if c == 0:
        mc.store(dst, a, bits)
        return
    k = c % bits
    if mc.insn.mnemonic == "rol":
        r = ((a << k) | (a >> (bits - k))) & m if k else a
        cf = r & 1
        of = (r >> (bits - 1)) ^ cf
    else:
        r = ((a >> k) | (a << (bits - k))) & m if k else a
        cf = r >> (bits - 1)
        of = (r >> (bits - 1)) ^ ((r >> (bits - 2)) & 1)
    mc.store(dst, r, bits)
    set_flags(mc, CF | OF, (CF if cf else 0) | (OF if of else 0), undefined=OF if c != 1 else 0)


# ---- multiply / divide -----------------------------------------------------------------------

@reg("imul")
def imul(mc: Machine) -> None:
    """All three forms. CF = OF = (the signed product does not fit the destination);
    SF ZF AF PF undefined (SF/ZF/PF are computed from the stored low result, AF left 0)."""
    ops = mc.insn.ops
    if len(ops) == 1:
        src = ops[0]
        bits = width(src)
        p = signed(mc.get(Gpr(0, bits)), bits) * signed(mc.value(src, bits), bits)
        _mul_store(mc, bits, p)
        fits = p == signed(p, bits)
        low = p
    else:
        dst = ops[0]
        bits = width(dst)
        a, b = (ops[0], ops[1]) if len(ops) == 2 else (ops[1], ops[2])
        p = signed(mc.value(a, bits), bits) * signed(mc.value(b, bits), bits)
        mc.store(dst, p, bits)
        fits = p == signed(p, bits)
        low = p
    f = szp(low, bits) | (0 if fits else CF | OF)
    set_flags(mc, ALL6, f, undefined=SF | ZF | AF | PF)


@reg("mul")
def mul(mc: Machine) -> None:
    src = mc.insn.ops[0]
    bits = width(src)
    p = mc.get(Gpr(0, bits)) * mc.value(src, bits)
    _mul_store(mc, bits, p)
    f = szp(p, bits) | (CF | OF if p >> bits else 0)
    set_flags(mc, ALL6, f, undefined=SF | ZF | AF | PF)


def _mul_store(mc: Machine, bits: int, p: int) -> None:
    m = (1 << bits) - 1
    if bits == 8:
        mc.set(Gpr(0, 16), p & 0xFFFF)
    else:
        mc.set(Gpr(0, bits), p & m)
        mc.set(Gpr(2, bits), (p >> bits) & m)


@reg("div", "idiv")
def div(mc: Machine) -> None:
    """#DE (X86Fault) on a zero divisor or a quotient that does not fit; all six flags undefined
    (left unchanged)."""
    src = mc.insn.ops[0]
    bits = width(src)
    m = (1 << bits) - 1
    if bits == 8:
        n = mc.get(Gpr(0, 16))
    else:
        n = (mc.get(Gpr(2, bits)) << bits) | mc.get(Gpr(0, bits))
    d = mc.value(src, bits)
    if d == 0:
        raise X86Fault("#DE", "divide by zero")
    if mc.insn.mnemonic == "idiv":
        n, d = signed(n, 2 * bits), signed(d, bits)
        q = abs(n) // abs(d)
        if (n < 0) != (d < 0):
            q = -q
        r = n - q * d
        if not -(1 << (bits - 1)) <= q < (1 << (bits - 1)):
            raise X86Fault("#DE", "quotient overflow")
    else:
        q, r = divmod(n, d)
        if q > m:
            raise X86Fault("#DE", "quotient overflow")
    if bits == 8:
        mc.set(Gpr(0, 16), (q & 0xFF) | ((r & 0xFF) << 8))
    else:
        mc.set(Gpr(0, bits), q & m)
        mc.set(Gpr(2, bits), r & m)
    mc.undef |= ALL6


# ---- bit test --------------------------------------------------------------------------------

@reg("bt", "bts", "btr", "btc")
def bt(mc: Machine) -> None:
    """CF = selected bit; ZF unchanged; OF SF AF PF undefined (left unchanged). A register bit
    offset into memory addresses the bit string beyond the operand (SDM BT)."""
    dst, off = mc.insn.ops
    bits = width(dst)
    if isinstance(off, Imm):
        k = off.value & (bits - 1)
        disp = 0
    else:
        o = mc.value(off, bits)
        if isinstance(dst, Mem):
            so = signed(o, bits)
            disp = (so >> {16: 4, 32: 5, 64: 6}[bits]) * (bits // 8)
            k = so & (bits - 1)
        else:
            k, disp = o & (bits - 1), 0
    if isinstance(dst, Mem):
        addr = (mc.ea(dst) + disp) & M64
        v = int.from_bytes(mc.read(addr, bits // 8), "little")
    else:
        v = mc.get(dst)
    cf = (v >> k) & 1
    mn = mc.insn.mnemonic
    if mn != "bt":
        nv = {"bts": v | (1 << k), "btr": v & ~(1 << k), "btc": v ^ (1 << k)}[mn]
        if isinstance(dst, Mem):
            mc.write(addr, nv.to_bytes(bits // 8, "little"))
        else:
            mc.set(dst, nv)
    set_flags(mc, CF, CF if cf else 0, undefined=OF | SF | AF | PF)


# ---- condition codes -------------------------------------------------------------------------

def _cc(name: str, f: int) -> bool:
    cf, zf, sf, of, pf = bool(f & CF), bool(f & ZF), bool(f & SF), bool(f & OF), bool(f & PF)
    neg = False
    base = name
    if name.startswith("n") and name not in ("nae", "nb", "nbe", "na", "nge", "nl", "nle", "ng"):
        neg, base = True, name[1:]
    table = {
        "o": of, "b": cf, "c": cf, "nae": cf, "ae": not cf, "nb": not cf, "e": zf, "z": zf,
        "be": cf or zf, "na": cf or zf, "a": not (cf or zf), "nbe": not (cf or zf),
        "s": sf, "p": pf, "pe": pf, "po": not pf, "l": sf != of, "nge": sf != of,
        "ge": sf == of, "nl": sf == of, "le": zf or sf != of, "ng": zf or sf != of,
        "g": not zf and sf == of, "nle": not zf and sf == of,
    }
    if base not in table:
        raise KeyError(name)
    return table[base] != neg


CONDITIONS = ["o", "no", "b", "c", "nae", "ae", "nb", "nc", "e", "z", "ne", "nz", "be", "na",
              "a", "nbe", "s", "ns", "p", "pe", "np", "po", "l", "nge", "ge", "nl", "le", "ng",
              "g", "nle"]


def setcc(mc: Machine, cc: str) -> None:
    mc.store(mc.insn.ops[0], int(_cc(cc, mc.st.rflags)), 8)


def cmovcc(mc: Machine, cc: str) -> None:
    """The source is always read (a memory source can fault); a 32-bit destination is
    zero-extended even when the condition is false."""
    dst, src = mc.insn.ops
    v = mc.value(src, dst.bits)
    mc.set(dst, v if _cc(cc, mc.st.rflags) else mc.get(dst))


for _c in CONDITIONS:
    HANDLERS[f"set{_c}"] = (lambda c: lambda mc: setcc(mc, c))(_c)
    HANDLERS[f"cmov{_c}"] = (lambda c: lambda mc: cmovcc(mc, c))(_c)


# ---- stack -----------------------------------------------------------------------------------
_RSP = Gpr(4, 64)


@reg("push")
def push(mc: Machine) -> None:
    src = mc.insn.ops[0]
    size = 2 if isinstance(src, Gpr) and src.bits == 16 or isinstance(src, Mem) and src.size == 2 else 8
    v = mc.value(src, 8 * size)                  # immediates are sign-extended by the decoder
    sp = (mc.get(_RSP) - size) & M64
    mc.write(sp, (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    mc.set(_RSP, sp)


@reg("pop")
def pop(mc: Machine) -> None:
    dst = mc.insn.ops[0]
    size = width(dst) // 8
    sp = mc.get(_RSP)
    v = int.from_bytes(mc.read(sp, size), "little")
    mc.set(_RSP, (sp + size) & M64)              # a memory destination sees the new rsp
    mc.store(dst, v, 8 * size)
