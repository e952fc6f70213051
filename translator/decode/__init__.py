"""Decode stage: x86-64 machine code -> ``translator.ir.Insn`` (iced-x86 underneath).

API
---
``decode_one(code, address=0) -> Insn``      first instruction of ``code`` at ``address``
``decode_linear(code, address=0) -> list``   straight-line sweep; raises ``DecodeError``
``Decoder(code, base).at(address) -> Insn``   random access into one buffer (used by flow.walk)
``DecodeError(offset, raw, message)``         ValueError; ``str`` is one line:
                                              ``offset 0x1a: invalid instruction (bytes 62 f1 ..)``
``flow.walk(code, base=0, entries=(0,))``     control-flow walk of a JIT dump -> ``Program``
``flow.linear(code, base=0)``                 linear sweep -> ``Program``
``jitdump.read_jitdump(path_or_bytes)``       perf jitdump -> ``[Kernel(name, address, code)]``

Branch representation: direct jmp/jcc/call/loop/jrcxz/xbegin have ``ops == ()`` and the absolute
target in ``Insn.target``; indirect ones keep their register/memory operand and ``target=None``.
See ``translator/decode/core.py`` for the operand conventions (immediates, Mem, VSIB, sae).
"""
from .core import DecodeError, Decoder, OtherReg, clear_cache, decode_linear, decode_one, format_bytes

__all__ = ["DecodeError", "Decoder", "OtherReg", "clear_cache", "decode_linear", "decode_one",
           "format_bytes"]
