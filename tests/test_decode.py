"""Decode stage: iced-x86 -> IR mapping, errors, flow walk, jitdump."""
from __future__ import annotations

import struct

import pytest

from translator.decode import DecodeError, Decoder, decode_linear, decode_one
from translator.decode.flow import infer_base, linear, walk
from translator.decode.jitdump import JitdumpError, is_jitdump, read_jitdump
from translator.ir import Gpr, Imm, KReg, Mem, Vec


def d(hexstr: str, address: int = 0):
    return decode_one(bytes.fromhex(hexstr), address)


# ------------------------------------------------------------------------------------------ EVEX
def test_evex_mask_zero_bcst_disp8n():
    # vaddps zmm0{k1}{z}, zmm0, dword bcst [rdx+0x10]  (disp8 = 4, N = 4)
    i = d("62f17cd9584204")
    assert i.mnemonic == "vaddps"
    assert i.encoding == "evex"
    assert i.mask == 1 and i.zeroing
    assert i.ops[0] == Vec(0, 512) and i.ops[1] == Vec(0, 512)
    m = i.ops[2]
    assert m == Mem(Gpr(2), disp=16, size=4, bcst=True, elem_bytes=4)
    assert i.form == "vaddps zmm{k}{z}, zmm, m32bcst"
    assert i.code == "EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER"
    assert i.text == "vaddps zmm0{k1}{z},zmm0,[rdx+0x10]{1to16}"
    assert i.flow == "next" and i.target is None and i.length == 7


def test_evex_disp8n_full_vector_negative_and_zmm16():
    # vaddps zmm16, zmm0, [rdx-0x40]  (disp8 = -1, N = 64)
    i = d("62e17c485842ff")
    assert i.ops[0] == Vec(16, 512)
    assert i.ops[2] == Mem(Gpr(2), disp=-64, size=64, elem_bytes=4)
    assert i.form == "vaddps zmm, zmm, m512"
    assert not i.zeroing and i.mask == 0


def test_evex_zmm31_and_merge_mask():
    # vfmadd231ps zmm31{k7}, zmm30, zmm29
    i = d("6202 0d47 b8fd")
    assert i.mnemonic == "vfmadd231ps"
    assert i.ops == (Vec(31, 512), Vec(30, 512), Vec(29, 512))
    assert i.mask == 7 and not i.zeroing
    assert i.form == "vfmadd231ps zmm{k}, zmm, zmm"


def test_evex_embedded_rounding_and_sae():
    i = d("62f17c1858c1")          # vaddps zmm0{rn-sae}, zmm0, zmm1
    assert i.rounding == "rn" and i.sae
    assert i.form == "vaddps zmm, zmm, zmm, {er}"
    i = d("62f17c7858c1")          # {rz-sae}
    assert i.rounding == "rz"
    i = d("62f17c3858c1")          # {rd-sae}
    assert i.rounding == "rd"
    i = d("62f17c5858c1")          # {ru-sae}
    assert i.rounding == "ru"
    i = d("62f17c18c2c100")        # vcmpeqps k0{sae}, zmm0, zmm1, 0
    assert i.rounding is None and i.sae
    assert i.ops[0] == KReg(0) and i.ops[3] == Imm(0, 8)
    assert i.form == "vcmpps k, zmm, zmm, imm8, {sae}"


def test_evex_masked_store_and_kmov():
    i = d("62d17c4911 00")          # vmovups [r8]{k1}, zmm0
    assert i.mnemonic == "vmovups"
    assert i.ops[0] == Mem(Gpr(8), size=64, elem_bytes=4)
    assert i.mask == 1
    assert i.form == "vmovups m512{k}, zmm"
    i = d("c4c178 92 f6")           # kmovw k6, r14d
    assert i.mnemonic == "kmovw" and i.encoding == "vex"
    assert i.ops == (KReg(6), Gpr(14, 32))


def test_evex_vsib_gather():
    # vgatherdps zmm0{k1}, [rdi+zmm1*4]
    i = d("62f27d4992048f")
    assert i.mnemonic == "vgatherdps"
    m = i.ops[1]
    assert m.base == Gpr(7) and m.index == Vec(1, 512) and m.scale == 4
    assert m.elem_bytes == 4
    assert i.form == "vgatherdps zmm{k}, vm32z"


# ------------------------------------------------------------------------------------------ VEX
def test_vex_forms():
    i = d("c5fc5802")               # vaddps ymm0, ymm0, [rdx]
    assert i.encoding == "vex" and i.mnemonic == "vaddps"
    assert i.ops[2] == Mem(Gpr(2), size=32, elem_bytes=4)
    assert i.form == "vaddps ymm, ymm, m256"
    i = d("c4e27d180425 00000000")  # vbroadcastss ymm0, [0]
    assert i.ops[1] == Mem(None, size=4, elem_bytes=4)
    assert i.form == "vbroadcastss ymm, m32"
    i = d("c4e37d18c101")           # vinsertf128 ymm0, ymm0, xmm1, 1
    assert i.ops == (Vec(0, 256), Vec(0, 256), Vec(1, 128), Imm(1, 8))


# ------------------------------------------------------------------------------------- legacy GPR
def test_legacy_gpr_forms():
    i = d("4883c0ff")               # add rax, -1 (imm8 sign-extended)
    assert i.ops == (Gpr(0), Imm(-1, 8))
    assert i.form == "add r64, imm8"
    i = d("4881c100010000")         # add rcx, 0x100
    assert i.ops == (Gpr(1), Imm(0x100, 32))
    i = d("48b8 1122334455667788")  # mov rax, imm64
    assert i.ops[1] == Imm(0x8877665544332211, 64)
    assert i.form == "mov r64, imm64"
    i = d("b0ff")                   # mov al, 0xff: plain imm8 stays unsigned
    assert i.ops == (Gpr(0, 8), Imm(0xFF, 8))
    i = d("8ae4")                   # mov ah, ah
    assert i.ops == (Gpr(0, 8, high8=True), Gpr(0, 8, high8=True))
    assert i.form == "mov r8h, r8h"
    i = d("4c8b8c24 00010000")      # mov r9, [rsp+0x100]
    assert i.ops == (Gpr(9), Mem(Gpr(4), disp=0x100, size=8))
    i = d("488b44c8f8")             # mov rax, [rax+rcx*8-8]
    assert i.ops[1] == Mem(Gpr(0), Gpr(1), 8, -8, 8)
    i = d("64488b042528000000")     # mov rax, fs:[0x28]
    assert i.ops[1] == Mem(None, disp=0x28, size=8, seg="fs")
    i = d("6689c8")                 # mov ax, cx
    assert i.ops == (Gpr(0, 16), Gpr(1, 16))
    i = d("4488c0")                 # mov al, r8b
    assert i.ops == (Gpr(0, 8), Gpr(8, 8))
    assert i.ops[1].name == "r8b"
    i = d("678b00")                 # mov eax, [eax]  (addr32)
    assert i.ops[1].base == Gpr(0, 32)


def test_rip_relative_is_absolute():
    i = d("488b0510000000", 0x1000)
    assert i.ops[1] == Mem(None, disp=0x1017, size=8, rip=True)
    assert decode_one(bytes.fromhex("488b0510000000"), 0x2000).ops[1].disp == 0x2017
    i = d("488d05f9ffffff", 0x100)  # lea rax, [rip-7] -> itself
    assert i.ops[1].rip and i.ops[1].disp == 0x100


def test_branches():
    i = d("75fe", 0x1000)
    assert i.mnemonic == "jne" and i.flow == "conditional_branch"
    assert i.target == 0x1000 and i.ops == () and i.form == "jne"
    i = d("0f8200010000", 0x10)
    assert i.mnemonic == "jb" and i.target == 0x10 + 6 + 0x100
    i = d("0f8d00000000")
    assert i.mnemonic == "jge"
    i = d("e9fbffffff", 0x20)
    assert i.mnemonic == "jmp" and i.flow == "unconditional_branch" and i.target == 0x20
    i = d("e800000000", 0x40)
    assert i.flow == "call" and i.target == 0x45
    i = d("ffe0")
    assert i.flow == "indirect_branch" and i.ops == (Gpr(0),) and i.target is None
    i = d("ffd0")
    assert i.flow == "indirect_call"
    assert d("c3").flow == "return"
    assert d("0f0b").flow == "exception"
    assert d("cc").flow == "interrupt"
    names = [d(f"{op:02x}00").mnemonic for op in range(0x70, 0x80)]
    assert names == ["jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja",
                     "js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg"]


def test_branch_target_depends_on_address_not_cache():
    a = d("75fe", 0x1000)
    b = d("75fe", 0x2000)
    assert (a.target, b.target) == (0x1000, 0x2000)
    x = d("4883c0ff", 0x10)
    y = d("4883c0ff", 0x20)
    assert x.address == 0x10 and y.address == 0x20 and x.ops == y.ops


# ---------------------------------------------------------------------------------------- errors
def test_invalid_and_truncated():
    with pytest.raises(DecodeError) as e:
        d("ffff")
    assert e.value.offset == 0 and "invalid instruction" in str(e.value)
    assert str(e.value) == "offset 0x0: invalid instruction (bytes ff ff)"
    with pytest.raises(DecodeError) as e:
        d("62f17c48")
    assert str(e.value) == "offset 0x0: truncated instruction (bytes 62 f1 7c 48)"
    with pytest.raises(DecodeError) as e:
        decode_linear(bytes.fromhex("90 90 06 90"))
    assert e.value.offset == 2 and "invalid" in e.value.message
    with pytest.raises(DecodeError) as e:
        decode_linear(bytes.fromhex("90 48 8b 05 00"), 0x500)
    assert e.value.offset == 1 and e.value.message == "truncated instruction"
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)


def test_decode_linear_and_random_access():
    code = bytes.fromhex("4883c0ff 75fa c3")
    ins = decode_linear(code, 0x400)
    assert [i.mnemonic for i in ins] == ["add", "jne", "ret"]
    assert [i.address for i in ins] == [0x400, 0x404, 0x406]
    assert ins[1].target == 0x400
    dec = Decoder(code, 0x400)
    assert dec.at(0x404) == ins[1]
    assert dec.at(0x400) == ins[0]


# ------------------------------------------------------------------------------------------ flow
def _asm(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts))


def test_walk_skips_data_and_follows_branches():
    code = _asm(
        "488d0d09000000",   # 0x00 lea rcx, [rip+9] -> 0x10 (data)
        "7405",             # 0x07 je 0x0e
        "e803000000",       # 0x09 call 0x11
        "c3",               # 0x0e ret
        "ffff",             # 0x0f..0x10 data
        "c3",               # 0x11 ret
    )
    p = walk(code, 0x1000)
    assert sorted(p.insns) == [0x1000, 0x1007, 0x1009, 0x100E, 0x1011]
    assert p.labels >= {0x1000, 0x100E, 0x1011}
    assert p.data == [(0x100F, 0x1011)]
    assert 0x1010 in p.data_refs
    assert not p.errors
    lin = linear(code, 0x1000)
    assert lin.errors and lin.errors[0].offset == 0xF


def test_walk_records_errors_and_externals():
    code = _asm("7405", "e9f0ffffff", "ffff")  # je 7 (invalid bytes); jmp -> outside
    p = walk(code, 0x1000)
    assert len(p.errors) == 1
    err = p.errors[0]
    assert err.offset == 7 and err.address == 0x1007 and "invalid" in err.message
    assert err.source == 0x1000 and err.raw.startswith(b"\xff\xff")
    assert list(p.external) == [0x1000 + 7 - 0x10]
    assert p.external[0x1000 + 7 - 0x10] == [0x1002]
    code = _asm("7402", "e9f0ffffff")        # je into the middle of the jmp
    p = walk(code)
    assert p.errors[0].message == "branch into the middle of an instruction"


def test_walk_jump_table_abs64():
    base = 0x7000
    # mov rax, table; jmp [rax+rcx*8]; ret; ret; pad; table: .quad base+0xd, base+0xe
    code = bytearray(_asm("48b8", struct.pack("<Q", base + 0x10).hex(), "ff24c8", "c3", "c3", "00"))
    code += struct.pack("<QQ", base + 0xD, base + 0xE)
    p = walk(bytes(code), base)
    jt = p.indirect[base + 0xA]
    assert jt is not None and jt.kind == "abs64" and jt.targets == [base + 0xD, base + 0xE]
    assert not p.errors
    assert infer_base(bytes(code)) == base


# --------------------------------------------------------------------------------------- jitdump
def _jitdump(records, endian="<"):
    hdr = struct.pack(endian + "IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, 1234, 0, 0)
    out = bytearray(hdr)
    for rid, body in records:
        out += struct.pack(endian + "IIQ", rid, 16 + len(body), 0) + body
    return bytes(out)


def _load(name, addr, code, endian="<"):
    return (0, struct.pack(endian + "IIQQQQ", 1, 2, addr, addr, len(code), 7) + name + b"\0" + code)


def test_jitdump_synthetic_both_endians():
    for e in "<>":
        blob = _jitdump([_load(b"k1", 0x1000, b"\xc3", e), (4, b"\0" * 24),
                         _load(b"k2", 0x2000, b"\x90\xc3", e), (3, b"")], e)
        assert is_jitdump(blob)
        ks = read_jitdump(blob)
        assert [(k.name, k.address, k.code) for k in ks] == [("k1", 0x1000, b"\xc3"),
                                                             ("k2", 0x2000, b"\x90\xc3")]
    assert not is_jitdump(b"\x7fELF")
    with pytest.raises(JitdumpError) as e:
        read_jitdump(blob[:-3] if False else _jitdump([_load(b"k", 1, b"\xc3")])[:-1])
    assert "offset 0x28" in str(e.value) and isinstance(e.value, ValueError)
    with pytest.raises(JitdumpError):
        read_jitdump(b"nope" * 20)
