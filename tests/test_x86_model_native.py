"""Differential test: the x86 model against this host's CPU (skipped without AVX-512 or GNU as).

Each form runs on random edge-heavy states (NaN payloads, denormals, +-0, +-inf, integer extremes,
random MXCSR rounding/DAZ/FTZ, random masks); registers, k, GPRs, memory, defined RFLAGS and the
MXCSR bits the model claims (IE DE ZE OE always, UE PE on its exact path) must match bit for bit.
"""
from __future__ import annotations

import os
import random
import zlib

import pytest

from test_x86_model_util import HAVE_AS, asm, rand_state
from translator.decode import decode_one
from translator.verify.x86_model import X86Fault, execute_ex
from translator.verify.x86model.fp import FpEnv

try:
    from translator.oracles import native as _native
    HAVE_NATIVE = _native.available() and _native.has_avx512()
except Exception:                                   # pragma: no cover
    HAVE_NATIVE = False

pytestmark = pytest.mark.skipif(not (HAVE_NATIVE and HAVE_AS), reason="needs AVX-512 host and GNU as")

FORMS = []
for _op in ("add", "sub", "mul", "div", "max", "min"):
    FORMS += [f"v{_op}ps zmm1, zmm2, zmm3", f"v{_op}ps zmm1{{k1}}{{z}}, zmm2, dword ptr [rax+4]{{1to16}}",
              f"v{_op}ps ymm1, ymm2, ymmword ptr [rax]", f"v{_op}ps xmm17{{k2}}, xmm18, xmm19",
              f"v{_op}pd zmm1{{k1}}, zmm2, zmm3", f"v{_op}pd zmm1, zmm2, qword ptr [rbx]{{1to8}}",
              f"{_op}ps xmm1, xmm2", f"{_op}ps xmm1, xmmword ptr [rax]", f"v{_op}ss xmm1{{k1}}, xmm2, xmm3",
              f"v{_op}sd xmm1, xmm2, qword ptr [rax+8]", f"{_op}ss xmm1, xmm2"]
for _op in ("add", "sub", "mul", "div"):
    for _r in ("rn", "rd", "ru", "rz"):
        FORMS.append(f"v{_op}ps zmm1{{k3}}, zmm2, zmm3, {{{_r}-sae}}")
    FORMS.append(f"v{_op}pd zmm1, zmm2, zmm3, {{rz-sae}}")
for _n in ("", "n"):
    for _o in ("add", "sub"):
        for _w in ("132", "213", "231"):
            FORMS += [f"vf{_n}m{_o}{_w}ps zmm1, zmm2, zmm3", f"vf{_n}m{_o}{_w}pd zmm1{{k1}}, zmm2, zmm3",
                      f"vf{_n}m{_o}{_w}ss xmm1, xmm2, xmm3", f"vf{_n}m{_o}{_w}sd xmm1{{k1}}{{z}}, xmm2, xmm3"]
FORMS += ["vfmadd231ps zmm1{k1}{z}, zmm2, dword ptr [rax]{1to16}", "vfmadd132ps ymm1, ymm2, ymmword ptr [rbx]",
          "vfmadd213ps zmm1{k2}, zmm2, zmm3, {rd-sae}", "vfnmadd231ps zmm1, zmm2, zmm3, {ru-sae}",
          "vfmadd231ps xmm1, xmm2, xmm3", "vfmadd231pd ymm1, ymm2, ymm3"]
FORMS += ["vsqrtps zmm1{k1}, zmm2", "vsqrtpd zmm1, zmm2", "sqrtps xmm1, xmm2", "vsqrtss xmm1, xmm2, xmm3",
          "vsqrtps zmm1, zmm2, {ru-sae}"]
FORMS += ["vcvtps2dq zmm1{k1}{z}, zmm2", "vcvttps2dq zmm1, zmm2", "vcvtdq2ps zmm1, zmm2",
          "vcvtps2dq zmm1, zmm2, {rd-sae}", "vcvtdq2ps zmm1, zmm2, {ru-sae}", "vcvtps2dq ymm1, ymm2",
          "cvtps2dq xmm1, xmm2", "cvttps2dq xmm1, xmm2", "cvtdq2ps xmm1, xmm2",
          "vcvtdq2ps zmm1, dword ptr [rax]{1to16}", "vcvttps2dq zmm1, zmm2, {sae}"]
FORMS += [f"vcmpps k1{{k2}}, zmm2, zmm3, {i}" for i in range(32)]
FORMS += ["vcmpps ymm1, ymm2, ymm3, 13", "vcmpps xmm1, xmm2, xmm3, 3", "cmpps xmm1, xmm2, 6",
          "vcmppd k3, zmm2, qword ptr [rax]{1to8}, 17", "vcmpss k1{k2}, xmm2, xmm3, 1", "vcmpsd xmm1, xmm2, xmm3, 4",
          "vcmpps k1, zmm2, zmm3, {sae}, 1"]
FORMS += ["vmovups zmm1{k1}{z}, zmmword ptr [rax+4]", "vmovups zmmword ptr [rax+4]{k1}, zmm2",
          "vmovaps zmm1{k1}, zmm2", "vmovdqu8 zmm1{k1}, zmm2", "vmovdqu16 zmmword ptr [rax]{k2}, zmm3",
          "vmovdqu32 ymm1{k1}{z}, ymmword ptr [rbx]", "vmovdqu64 xmm20, xmm21", "vmovdqa32 zmm1, zmmword ptr [rax]",
          "vmovdqa64 zmmword ptr [rbx]{k3}, zmm4", "vmovups ymm1, ymm2", "vmovups ymmword ptr [rax+3], ymm2",
          "movups xmm1, xmmword ptr [rax+1]", "movaps xmm1, xmm2", "vmovdqu xmm1, xmmword ptr [rsi]",
          "vmovss xmm1{k1}{z}, dword ptr [rax]", "vmovss xmm1, xmm2, xmm3", "movss xmm1, dword ptr [rax]",
          "movsd xmm1, xmm2", "vmovsd qword ptr [rax]{k1}, xmm1"]
FORMS += ["vbroadcastss zmm1{k1}, xmm2", "vbroadcastss zmm1, dword ptr [rax]", "vbroadcastss ymm1, xmm2",
          "vpbroadcastd zmm1{k1}{z}, eax", "vpbroadcastd zmm1, xmm2", "vpbroadcastd ymm1, dword ptr [rax]",
          "vpbroadcastq zmm1, rax", "vpbroadcastb zmm1{k1}, ecx", "vbroadcastsd zmm1, xmm2"]
for _op in ("xor", "and", "or", "andn"):
    FORMS += [f"vp{_op}d zmm1{{k1}}, zmm2, zmm3", f"vp{_op}q zmm1{{k1}}{{z}}, zmm2, qword ptr [rax]{{1to8}}",
              f"v{_op}ps zmm1, zmm2, zmm3", f"v{_op}ps ymm1, ymm2, ymm3", f"{_op}ps xmm1, xmm2",
              f"vp{_op} ymm1, ymm2, ymm3", f"p{_op} xmm1, xmm2", f"v{_op}pd zmm1{{k1}}, zmm2, zmm3"]
for _op in ("add", "sub"):
    for _t in "bwdq":
        FORMS += [f"vp{_op}{_t} zmm1{{k1}}, zmm2, zmm3", f"vp{_op}{_t} ymm1, ymm2, ymmword ptr [rax]",
                  f"p{_op}{_t} xmm1, xmm2"]
    FORMS += [f"vp{_op}d zmm1, zmm2, dword ptr [rax]{{1to16}}"]
for _s in ("sll", "srl", "sra"):
    for _t in "wdq":
        if _s == "sra" and _t == "q":
            FORMS += ["vpsraq zmm1{k1}, zmm2, 7", "vpsraq zmm1, zmm2, 64", "vpsraq zmm1, zmm2, xmm3"]
            continue
        for _c in (0, 1, 7, 15, 31, 32, 63, 64, 200):
            FORMS.append(f"vp{_s}{_t} zmm1{{k1}}, zmm2, {_c}")
        FORMS += [f"vp{_s}{_t} ymm1, ymm2, 5", f"p{_s}{_t} xmm1, 3", f"vp{_s}{_t} zmm1, zmm2, xmm3",
                  f"p{_s}{_t} xmm1, xmm2"]
    FORMS += [f"vp{_s}vd zmm1{{k1}}, zmm2, zmm3", f"vp{_s}d zmm1, dword ptr [rax]{{1to16}}, 3"]
FORMS += ["vblendmps zmm1{k1}, zmm2, zmm3", "vblendmps zmm1{k1}{z}, zmm2, zmm3", "vblendmps zmm1, zmm2, zmm3",
          "vpblendmd ymm1{k2}, ymm2, dword ptr [rax]{1to8}", "vblendmpd zmm1{k1}, zmm2, zmm3"]
FORMS += ["kmovw k1, k2", "kmovw k1, eax", "kmovw eax, k1", "kmovw k1, word ptr [rax]", "kmovw word ptr [rax], k3",
          "kmovq k1, rax", "kmovq rax, k2", "kmovd k1, eax", "kmovb k1, eax", "kmovd eax, k1", "kmovb eax, k1",
          "kmovq k1, qword ptr [rax]", "kortestw k1, k2", "kortestq k1, k2", "kxnorw k1, k2, k3", "kandw k1, k2, k3",
          "korw k1, k2, k3", "kxorw k1, k2, k3", "knotw k1, k2", "kandnw k1, k2, k3", "kxnorb k1, k2, k3",
          "ktestw k1, k2", "kshiftlw k1, k2, 3", "kshiftrq k1, k2, 63"]
FORMS += ["vzeroupper", "vzeroall"]
for _w in ("al", "ah", "ax", "eax", "rax"):
    _s = {"al": "cl", "ah": "bh", "ax": "cx", "eax": "ecx", "rax": "rcx"}[_w]
    for _op in ("add", "sub", "adc", "sbb", "and", "or", "xor", "cmp", "test"):
        FORMS += [f"{_op} {_w}, {_s}", f"{_op} {_w}, 1"]
    for _op in ("inc", "dec", "neg", "not", "mul", "imul"):
        FORMS.append(f"{_op} {_s}")
    for _op in ("shl", "shr", "sar", "rol", "ror"):
        FORMS += [f"{_op} {_w}, cl", f"{_op} {_w}, 1", f"{_op} {_w}, 7"]
    FORMS += [f"mov {_w}, {_s}", f"xchg {_w}, {_s}"]
FORMS += ["add dword ptr [rax+4], ecx", "sub qword ptr [rbx], 0x7f", "add eax, 0x7fffffff", "cmp rax, -1",
          "lea ecx, [rax+rbx*4+8]", "lea rcx, [rax+rcx*8-16]", "lea cx, [rax+1]", "imul ecx, edx", "imul rcx, rdx, -3",
          "imul ecx, dword ptr [rax], 100", "imul cx, dx", "mov eax, dword ptr [rax]", "mov byte ptr [rbx+1], ah",
          "mov rax, 0x123456789abcdef0", "mov ecx, -1", "movzx ecx, byte ptr [rax]", "movsx rcx, cx",
          "movsxd rcx, edx", "movzx eax, ah", "cdq", "cqo", "cdqe", "cwde", "cbw", "cwd", "bt eax, ecx",
          "bt rax, 63", "bts ecx, 3", "btr dword ptr [rax], 5", "btc rcx, rdx", "bt dword ptr [rax+64], ecx",
          "shl eax, 0", "shl rax, cl", "sar rdx, 63", "shr ecx, 32", "nop", "nop dword ptr [rax+rax]",
          "prefetcht0 byte ptr [rcx]", "prefetcht1 byte ptr [rax]", "prefetcht2 byte ptr [rdx]"]
for _c in ("e", "ne", "b", "ae", "be", "a", "l", "ge", "le", "g", "s", "ns", "o", "no", "p", "np"):
    FORMS += [f"set{_c} cl", f"cmov{_c} ecx, edx", f"cmov{_c} rcx, qword ptr [rax]"]

FORMS += ["vfmadd231ps zmm17{k1}, zmm18, zmm19", "vfmadd231ps zmm31{k7}{z}, zmm30, zmmword ptr [rax+64]",
          "vfmadd213ps zmm17, zmm18, dword ptr [rbx]{1to16}", "vfnmadd231ps ymm20{k2}, ymm21, ymm22",
          "vfnmadd231ps zmm1{k1}{z}, zmm2, dword ptr [rsi+8]{1to16}", "vfmadd132ps zmm1{k1}, zmm2, zmm3, {rn-sae}",
          "vmovups zmm31, zmm16", "vmovups zmm16{k1}{z}, zmmword ptr [rax+rbx*1-0x200000]",
          "vpaddd zmm20{k7}{z}, zmm21, zmmword ptr [rax+64]", "vaddps zmm29{k6}, zmm30, zmm28, {rd-sae}", "vmaxps zmm16{k1}, zmm17, dword ptr [rax]{1to16}",
          "vminpd zmm16{k1}{z}, zmm17, zmm18", "vcmpps k7{k1}, zmm30, dword ptr [rax]{1to16}, 30",
          "vcvtps2dq zmm20{k1}, dword ptr [rax]{1to16}", "vpbroadcastd zmm25{k3}{z}, r9d",
          "vbroadcastss zmm25, xmm30", "vpsrad zmm17{k1}, zmm18, 3", "vpxorq zmm16, zmm16, zmm16",
          "vblendmps zmm20{k5}, zmm21, dword ptr [rax]{1to16}", "vmovdqu8 zmm20{k1}{z}, zmmword ptr [rax+1]",
          "vmovdqu16 zmmword ptr [rax+2]{k1}, zmm21", "vsubps zmm1{k1}, zmm2, zmm3, {ru-sae}",
          "vmulpd zmm1{k1}, zmm2, qword ptr [rax]{1to8}", "vdivpd ymm1, ymm2, ymm3"]

N = int(os.environ.get("X86_MODEL_NATIVE_STATES", "80"))


def compare(form_text, insn, s, nat, rng_note=""):
    try:
        mod, undef = execute_ex(insn, s)
    except X86Fault:
        assert not hasattr(nat, "zmm"), f"{form_text}: model faults, CPU does not"
        return
    assert hasattr(nat, "zmm"), f"{form_text}: CPU faulted ({nat}), model did not"
    where = f"{form_text} [{rng_note}]"
    for i in range(32):
        assert mod.zmm[i] == nat.zmm[i], f"{where}: zmm{i}\n model {mod.zmm[i].hex()}\n cpu   {nat.zmm[i].hex()}"
    assert mod.k == nat.k, f"{where}: k {[hex(x) for x in mod.k]} vs {[hex(x) for x in nat.k]}"
    for r, v in nat.gpr.items():
        if r != "rsp":
            assert mod.gpr[r] == v, f"{where}: {r} {mod.gpr[r]:#x} vs {v:#x}"
    fm = 0x8D5 & ~undef
    assert mod.rflags & fm == nat.rflags & fm, f"{where}: rflags {mod.rflags:#x} vs {nat.rflags:#x} undef {undef:#x}"
    env = FpEnv.from_mxcsr(s.mxcsr, insn.rounding, insn.sae)
    mm = 0xFFC0 | 0xF if env.fast else 0xFFFF
    assert mod.mxcsr & mm == nat.mxcsr & mm, f"{where}: mxcsr {mod.mxcsr:#x} vs {nat.mxcsr:#x}"
    assert mod.mem == nat.mem, f"{where}: memory differs"


@pytest.fixture(scope="module")
def runner():
    r = _native.NativeRunner()
    yield r
    r.close()


@pytest.mark.parametrize("form", FORMS)
def test_native(form, runner):
    code = asm(form)
    insn = decode_one(code)
    rng = random.Random(zlib.crc32(form.encode()))
    states = [rand_state(rng) for _ in range(N)]
    outs = runner.run_many(code, states)
    for j, (s, o) in enumerate(zip(states, outs)):
        compare(form, insn, s, o, f"state {j}, mxcsr {s.mxcsr:#x}")
