"""x86-64 -> IR decoding on top of iced-x86.

Conventions (see ``translator/decode/__init__.py`` for the summary):

* Direct near branches / calls / jcc / loop / jrcxz / xbegin: ``ops`` is empty and the absolute
  target is in ``Insn.target``. Their form is therefore just the mnemonic (``jne``, ``call``,
  ``jmp``); an indirect ``jmp rax`` / ``call qword [..]`` keeps its operand (form ``jmp r64``).
* Rip-relative memory: ``Mem(base=None, rip=True, disp=<absolute target address>)``.
* Immediates keep iced's extension: ``imm8`` (IMMEDIATE8, e.g. shuffle controls, ``mov al,imm8``)
  is unsigned 0..255, ``imm8to16/32/64`` and ``imm32to64`` are sign-extended (negative Python
  ints), ``imm16``/``imm32``/``imm64`` are unsigned. ``Imm.bits`` is the encoded width.
* ``Mem.size`` is the number of bytes accessed (one element for broadcasts); ``elem_bytes`` is the
  element size for packed / broadcast memory and for scalar memory of a vector instruction,
  0 for plain GPR memory. For VSIB (gather/scatter) ``elem_bytes`` is the *index* element size
  (4 for vm32x/y/z, 8 for vm64x/y/z) so that ``operand_shape`` names it as Intel does.
* ``sae`` is True for ``{sae}`` and also whenever ``rounding`` is set (embedded rounding implies SAE).
* Registers that the IR has no class for (segment, x87, mmx, cr/dr, tmm, bnd) become
  :class:`OtherReg`; such an Insn also carries ``meta["other_reg"] = True``.
"""
from __future__ import annotations

import gc as _gc
from contextlib import ContextDecorator as _ContextDecorator
from dataclasses import dataclass

import iced_x86 as _I
from iced_x86 import Decoder as _Decoder

from ..ir import GPR8, GPR16, GPR32, GPR64, GPR8_HIGH, Gpr, Imm, Insn, KReg, Mem, Vec

__all__ = ["DecodeError", "OtherReg", "decode_one", "decode_linear", "Decoder",
           "format_bytes", "clear_cache"]


class DecodeError(ValueError):
    """Invalid or truncated instruction. ``offset`` is relative to the start of the buffer."""

    def __init__(self, offset: int, raw: bytes, message: str):
        self.offset = offset
        self.raw = bytes(raw)
        self.message = message
        super().__init__(f"offset {offset:#x}: {message} (bytes {format_bytes(raw)})")


@dataclass(frozen=True, slots=True)
class OtherReg:
    """A register the IR has no class for (es..gs, st0-7, mm0-7, cr/dr, tmm, bnd)."""
    name: str

    def __str__(self) -> str:
        return self.name


def format_bytes(raw: bytes, limit: int = 8) -> str:
    s = " ".join(f"{b:02x}" for b in raw[:limit])
    if len(raw) > limit:
        s += " .."
    return s


def _enum_names(mod) -> dict[int, str]:
    out = {}
    for k, v in vars(mod).items():
        if k.isupper() and isinstance(v, int) and not k.startswith("_"):
            out.setdefault(v, k)
    return out


# ---------------------------------------------------------------------------------------------
# static tables, built once
_CODE_NAME = _enum_names(_I.Code)
_MNEMONIC = {v: k.lower() for v, k in _enum_names(_I.Mnemonic).items()}
_ENCODING = {_I.EncodingKind.LEGACY: "legacy", _I.EncodingKind.VEX: "vex",
             _I.EncodingKind.EVEX: "evex", _I.EncodingKind.XOP: "xop",
             _I.EncodingKind.D3NOW: "3dnow", _I.EncodingKind.MVEX: "mvex"}
_FLOW = {v: k.lower() for v, k in _enum_names(_I.FlowControl).items()}
_ROUND = {_I.RoundingControl.NONE: None, _I.RoundingControl.ROUND_TO_NEAREST: "rn",
          _I.RoundingControl.ROUND_DOWN: "rd", _I.RoundingControl.ROUND_UP: "ru",
          _I.RoundingControl.ROUND_TOWARD_ZERO: "rz"}


def _build_regs() -> dict[int, object]:
    names = {v: k for k, v in _enum_names(_I.Register).items()}
    by_name: dict[str, object] = {}
    for bits, tab in ((64, GPR64), (32, GPR32), (16, GPR16), (8, GPR8)):
        for i, n in enumerate(tab):
            by_name[n] = Gpr(i, bits)
    for i, n in enumerate(GPR8_HIGH):
        by_name[n] = Gpr(i, 8, high8=True)
    for i in range(8, 16):
        by_name[f"r{i}l"] = Gpr(i, 8)          # iced spells r8b as R8L
    for i in range(32):
        for bits, p in ((128, "xmm"), (256, "ymm"), (512, "zmm")):
            by_name[f"{p}{i}"] = Vec(i, bits)
    for i in range(8):
        by_name[f"k{i}"] = KReg(i)
    out: dict[int, object] = {}
    for name, val in names.items():
        if name == "NONE":
            continue
        low = name.lower()
        out[val] = by_name.get(low) or OtherReg(low)
    return out


_REG = _build_regs()


def _build_memsizes() -> dict[int, tuple[int, int, bool, bool]]:
    out = {}
    for val in _enum_names(_I.MemorySize):
        info = _I.MemorySizeExt.info(val)
        out[val] = (info.size, info.element_size, info.is_broadcast, info.is_packed)
    return out


_MEMSIZE = _build_memsizes()

_OK = _I.OpKind
_OK_REGISTER = _OK.REGISTER
_OK_MEMORY = _OK.MEMORY
_NEAR_BRANCH = {_OK.NEAR_BRANCH16, _OK.NEAR_BRANCH32, _OK.NEAR_BRANCH64}
# op kind -> (accessor name, encoded bits)
_IMM = {
    _OK.IMMEDIATE8: ("immediate8", 8),
    _OK.IMMEDIATE8_2ND: ("immediate8_2nd", 8),
    _OK.IMMEDIATE16: ("immediate16", 16),
    _OK.IMMEDIATE32: ("immediate32", 32),
    _OK.IMMEDIATE64: ("immediate64", 64),
    _OK.IMMEDIATE8TO16: ("immediate8to16", 8),
    _OK.IMMEDIATE8TO32: ("immediate8to32", 8),
    _OK.IMMEDIATE8TO64: ("immediate8to64", 8),
    _OK.IMMEDIATE32TO64: ("immediate32to64", 32),
}
# string-instruction implicit memory operands -> base register
_STRMEM = {
    _OK.MEMORY_SEG_SI: Gpr(6, 16), _OK.MEMORY_SEG_ESI: Gpr(6, 32), _OK.MEMORY_SEG_RSI: Gpr(6, 64),
    _OK.MEMORY_SEG_DI: Gpr(7, 16), _OK.MEMORY_SEG_EDI: Gpr(7, 32), _OK.MEMORY_SEG_RDI: Gpr(7, 64),
    _OK.MEMORY_ESDI: Gpr(7, 16), _OK.MEMORY_ESEDI: Gpr(7, 32), _OK.MEMORY_ESRDI: Gpr(7, 64),
}
_SEG = {_I.Register.FS: "fs", _I.Register.GS: "gs"}
_REG_NONE = _I.Register.NONE
_REG_RIP = {_I.Register.RIP, _I.Register.EIP}
_CODE_INVALID = _I.Code.INVALID
_ERR_NO_MORE = _I.DecoderError.NO_MORE_BYTES
_FLOW_NEXT = _I.FlowControl.NEXT
_FLOW_BRANCHY = {_I.FlowControl.UNCONDITIONAL_BRANCH, _I.FlowControl.CONDITIONAL_BRANCH,
                 _I.FlowControl.CALL, _I.FlowControl.XBEGIN_XABORT_XEND}
_ENC_LEGACY = _I.EncodingKind.LEGACY


def _make_formatter():
    f = _I.Formatter(_I.FormatterSyntax.INTEL)
    f.show_branch_size = False
    f.branch_leading_zeros = False
    f.hex_prefix = "0x"
    f.hex_suffix = ""
    f.uppercase_hex = False
    return f


_FMT = _make_formatter()

# raw bytes -> the address-independent fields of an Insn
_CACHE: dict[bytes, tuple] = {}
_CACHE_MAX = 1 << 18


def clear_cache() -> None:
    _CACHE.clear()
    _CACHE_ADDR.clear()


def _mem(instr, kind, has_vec: bool):
    msz = _MEMSIZE[instr.memory_size]
    size, esize, bcst, packed = msz
    seg = _SEG.get(instr.segment_prefix)
    if kind != _OK_MEMORY:
        return Mem(_STRMEM[kind], size=size, seg=seg)
    if bcst:
        size = esize
        eb = esize
    elif packed or has_vec:
        eb = esize
    else:
        eb = 0
    base_r = instr.memory_base
    if base_r in _REG_RIP:
        return Mem(None, disp=instr.ip_rel_memory_address, size=size, bcst=bcst,
                   elem_bytes=eb, rip=True, seg=seg)
    base = _REG[base_r] if base_r != _REG_NONE else None
    idx_r = instr.memory_index
    if idx_r != _REG_NONE:
        index = _REG[idx_r]
        scale = instr.memory_index_scale
        if isinstance(index, Vec):
            eb = 8 if instr.is_vsib64 else 4
    else:
        index = None
        scale = 1
    disp = instr.memory_displacement
    addr32 = (base is not None and base.bits == 32) or (isinstance(index, Gpr) and index.bits == 32)
    if addr32:
        disp &= 0xFFFFFFFF
        if disp >= 0x80000000:
            disp -= 0x100000000
    elif disp >= 0x8000000000000000:
        disp -= 0x10000000000000000
    return Mem(base, index, scale, disp, size, bcst, eb, False, seg)


def _fields(instr) -> tuple:
    """Everything of an Insn except address/raw, as a tuple in Insn field order."""
    n = instr.op_count
    ops = []
    target = None
    other = False
    has_vec = False
    kinds = [instr.op_kind(i) for i in range(n)]
    regs = {}
    for i, k in enumerate(kinds):
        if k == _OK_REGISTER:
            r = _REG[instr.op_register(i)]
            regs[i] = r
            if isinstance(r, Vec):
                has_vec = True
    for i, k in enumerate(kinds):
        if k == _OK_REGISTER:
            r = regs[i]
            if isinstance(r, OtherReg):
                other = True
            ops.append(r)
        elif k == _OK_MEMORY or k in _STRMEM:
            ops.append(_mem(instr, k, has_vec))
        elif k in _NEAR_BRANCH:
            target = instr.near_branch_target
        elif k in _IMM:
            acc, bits = _IMM[k]
            ops.append(Imm(getattr(instr, acc), bits))
        else:  # far branch: not expected in 64-bit user code
            ops.append(OtherReg(f"far:{k}"))
            other = True
    rc = _ROUND[instr.rounding_control]
    mk = instr.op_mask
    meta = {"other_reg": True} if other else None
    return (_MNEMONIC[instr.mnemonic], tuple(ops),
            _REG[mk].index if mk != _REG_NONE else 0,
            instr.zeroing_masking,
            rc,
            instr.suppress_all_exceptions or rc is not None,
            _ENCODING[instr.encoding],
            _FLOW[instr.flow_control],
            target,
            _FMT.format(instr),
            _CODE_NAME[instr.code],
            meta)


def _make_fast_ctor():
    """``Insn(...)`` costs ~1 us (frozen dataclass __init__ goes through object.__setattr__).
    Setting the slots through their descriptors is about twice as fast and gives an equal object."""
    import dataclasses
    names = [f.name for f in dataclasses.fields(Insn)]
    expect = ["address", "raw", "mnemonic", "ops", "mask", "zeroing", "rounding", "sae",
              "encoding", "flow", "target", "text", "code", "meta"]
    if names != expect or not all(hasattr(Insn.__dict__.get(n), "__set__") for n in names):
        return None  # IR changed shape: fall back to the normal constructor
    ns = {"_new": object.__new__, "Insn": Insn}
    for i, n in enumerate(names):
        ns[f"_s{i}"] = Insn.__dict__[n].__set__
    args = ", ".join(f"a{i}" for i in range(len(names)))
    body = "".join(f"    _s{i}(o, a{i})\n" for i in range(len(names)))
    exec(f"def mk({args}):\n    o = _new(Insn)\n{body}    return o\n", ns)
    return ns["mk"]


_mk = _make_fast_ctor() or Insn
_CACHE_ADDR: dict[tuple, tuple] = {}


def _build(instr, raw: bytes, address: int) -> Insn:
    # Fast path: address dependence is a property of the bytes, and _CACHE only ever holds
    # address-independent ones, so a hit there needs no look at the instruction.
    f = _CACHE.get(raw)
    if f is not None:
        m = f[11]
        return _mk(address, raw, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10],
                   dict(m) if m else {})
    if instr.is_ip_rel_memory_operand or instr.flow_control in _FLOW_BRANCHY:
        key = (raw, address)
        f = _CACHE_ADDR.get(key)
        if f is None:
            f = _fields(instr)
            if len(_CACHE_ADDR) >= _CACHE_MAX:
                _CACHE_ADDR.clear()
            _CACHE_ADDR[key] = f
    else:
        f = _CACHE.get(raw)
        if f is None:
            f = _fields(instr)
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[raw] = f
    m = f[11]
    return _mk(address, raw, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10],
               dict(m) if m else {})


def _error(instr, code: bytes, off: int, decoder) -> DecodeError:
    rest = code[off:off + 15]
    if decoder.last_error == _ERR_NO_MORE and len(rest) < 15:
        # truncated only if padding the tail makes it a valid, longer instruction
        for fill in (0x00, 0x48, 0x58, 0xC0, 0x10, 0x90):
            probe = _Decoder(64, bytes(rest) + bytes([fill]) * 15).decode()
            if probe.code != _CODE_INVALID and probe.len > len(rest):
                return DecodeError(off, rest, "truncated instruction")
    return DecodeError(off, code[off:off + max(instr.len, 8)][:15], "invalid instruction")


class Decoder:
    """Random-access decoder over one buffer: ``Decoder(code, base).at(address) -> Insn``.

    Reuses one iced decoder and one Instruction object, which is what the flow walker needs.
    """

    __slots__ = ("code", "base", "_dec", "_ins")

    def __init__(self, code: bytes, base: int = 0):
        self.code = bytes(code)
        self.base = base
        self._dec = _Decoder(64, self.code, ip=base)
        self._ins = _I.Instruction()

    def at(self, address: int) -> Insn:
        off = address - self.base
        code = self.code
        if off < 0 or off >= len(code):
            raise DecodeError(off, b"", "address outside the buffer")
        dec = self._dec
        if dec.ip != address or dec.position != off:   # sequential decoding needs no re-seek
            dec.position = off
            dec.ip = address
        ins = self._ins
        dec.decode_out(ins)
        if ins.code == _CODE_INVALID:
            raise _error(ins, code, off, dec)
        return _build(ins, code[off:off + ins.len], address)


def decode_one(code: bytes, address: int = 0) -> Insn:
    """Decode the first instruction of ``code`` placed at ``address`` (extra bytes are ignored)."""
    code = bytes(code[:15])
    dec = _Decoder(64, code, ip=address)
    ins = dec.decode()
    if ins.code == _CODE_INVALID:
        raise _error(ins, code, 0, dec)
    return _build(ins, code[:ins.len], address)


class gc_paused(_ContextDecorator):
    """Context manager: pause the cyclic GC while allocating many acyclic objects (it otherwise
    runs every ~700 allocations and rescans the growing result list: about 2x slower).
    Also a decorator (``@gc_paused()``); nesting is fine (the outermost one re-enables)."""

    __slots__ = ("was",)

    def _recreate_cm(self):         # a fresh instance per decorated call (reentrant, threads)
        return type(self)()

    def __enter__(self):
        self.was = _gc.isenabled()
        _gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was:
            _gc.enable()
        return False


def decode_linear(code: bytes, address: int = 0) -> list[Insn]:
    """Decode ``code`` as one straight run of instructions starting at ``address``.

    Raises :class:`DecodeError` at the first invalid or truncated instruction.
    """
    with gc_paused():
        return _decode_linear(code, address)


def _decode_linear(code: bytes, address: int) -> list[Insn]:
    code = bytes(code)
    dec = _Decoder(64, code, ip=address)
    ins = _I.Instruction()
    out = []
    append = out.append
    off = 0
    end = len(code)
    build = _build
    invalid = _CODE_INVALID
    cache_get = _CACHE.get
    mk = _mk
    while off < end:
        dec.decode_out(ins)
        n = ins.len
        raw = code[off:off + n]
        f = cache_get(raw)
        if f is not None and f[7] == "next" and not ins.is_ip_rel_memory_operand:
            m = f[11]
            append(mk(address + off, raw, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
                      f[9], f[10], dict(m) if m else {}))
        else:
            if ins.code == invalid:
                raise _error(ins, code, off, dec)
            append(build(ins, raw, address + off))
        off += n
    return out
