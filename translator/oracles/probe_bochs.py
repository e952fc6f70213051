"""Which AVX-512 (and neighbouring) extensions does bochs implement, and does it agree with this CPU?

    python -m translator.oracles.probe_bochs [--models tigerlake,...] [--n 64] [--md FILE]

Runs one instruction per extension on ``n`` random states (half random bits, half random
float32 values) in bochs and, where this host runs it too, natively, and prints a markdown table:
'ok' (ran), '#UD' (raised), and the number of states whose full output differs from native.
"""
from __future__ import annotations

import argparse
import random
import struct
import sys

from ..verify.state import X86State
from . import bochs, native
from ._asm import asm64
from .common import ExceptionResult

Z = "zmm"
PROBES: list[tuple[str, str, tuple]] = [
    ("AVX512F", "vaddps zmm0{k1}, zmm1, zmm2", ("EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1", "zmm2", {"k": "k1"})),
    ("AVX512F", "vfmadd231ps zmm16, zmm17, zmm31", ("EVEX_VFMADD231PS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm16", "zmm17", "zmm31")),
    ("AVX512F", "vaddps zmm3, zmm4, zmm5, {rd-sae}", ("EVEX_VADDPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm3", "zmm4", "zmm5", {"rc": 2})),
    ("AVX512F", "vpternlogd zmm0, zmm1, zmm2, 0x96", ("EVEX_VPTERNLOGD_ZMM_K1Z_ZMM_ZMMM512B32_IMM8", "zmm0", "zmm1", "zmm2", 0x96)),
    ("AVX512F", "vrsqrt14ps zmm0, zmm1", ("EVEX_VRSQRT14PS_ZMM_K1Z_ZMMM512B32", "zmm0", "zmm1")),
    ("AVX512F", "vgetexpps zmm0, zmm1", ("EVEX_VGETEXPPS_ZMM_K1Z_ZMMM512B32_SAE", "zmm0", "zmm1")),
    ("AVX512F", "vscalefps zmm0, zmm1, zmm2", ("EVEX_VSCALEFPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1", "zmm2")),
    ("AVX512F", "vfixupimmps zmm0, zmm1, zmm2, 0", ("EVEX_VFIXUPIMMPS_ZMM_K1Z_ZMM_ZMMM512B32_IMM8_SAE", "zmm0", "zmm1", "zmm2", 0)),
    ("AVX512F", "vrndscaleps zmm0, zmm1, 0x13", ("EVEX_VRNDSCALEPS_ZMM_K1Z_ZMMM512B32_IMM8_SAE", "zmm0", "zmm1", 0x13)),
    ("AVX512F", "vexpandps zmm0{k2}{z}, zmm1", ("EVEX_VEXPANDPS_ZMM_K1Z_ZMMM512", "zmm0", "zmm1", {"k": "k2", "z": True})),
    ("AVX512F", "vcvtps2ph ymm0, zmm1, 4", ("EVEX_VCVTPS2PH_YMMM256_K1Z_ZMM_IMM8_SAE", "ymm0", "zmm1", 4)),
    ("AVX512F", "kandw k1, k2, k3", ("VEX_KANDW_KR_KR_KR", "k1", "k2", "k3")),
    ("AVX512CD", "vplzcntd zmm0, zmm1", ("EVEX_VPLZCNTD_ZMM_K1Z_ZMMM512B32", "zmm0", "zmm1")),
    ("AVX512CD", "vpconflictd zmm0, zmm1", ("EVEX_VPCONFLICTD_ZMM_K1Z_ZMMM512B32", "zmm0", "zmm1")),
    ("AVX512DQ", "vpmullq zmm0, zmm1, zmm2", ("EVEX_VPMULLQ_ZMM_K1Z_ZMM_ZMMM512B64", "zmm0", "zmm1", "zmm2")),
    ("AVX512DQ", "vrangeps zmm0, zmm1, zmm2, 5", ("EVEX_VRANGEPS_ZMM_K1Z_ZMM_ZMMM512B32_IMM8_SAE", "zmm0", "zmm1", "zmm2", 5)),
    ("AVX512DQ", "vreduceps zmm0, zmm1, 0x21", ("EVEX_VREDUCEPS_ZMM_K1Z_ZMMM512B32_IMM8_SAE", "zmm0", "zmm1", 0x21)),
    ("AVX512DQ", "vfpclassps k1, zmm1, 0xff", ("EVEX_VFPCLASSPS_KR_K1_ZMMM512B32_IMM8", "k1", "zmm1", 0xFF)),
    ("AVX512DQ", "kaddb k1, k2, k3", ("VEX_KADDB_KR_KR_KR", "k1", "k2", "k3")),
    ("AVX512BW", "vpaddb zmm0{k1}{z}, zmm1, zmm2", ("EVEX_VPADDB_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2", {"k": "k1", "z": True})),
    ("AVX512BW", "vpermw zmm0, zmm1, zmm2", ("EVEX_VPERMW_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW", "vdbpsadbw zmm0, zmm1, zmm2, 0x1b", ("EVEX_VDBPSADBW_ZMM_K1Z_ZMM_ZMMM512_IMM8", "zmm0", "zmm1", "zmm2", 0x1B)),
    ("AVX512BW", "vpcmpub k1, zmm1, zmm2, 1", ("EVEX_VPCMPUB_KR_K1_ZMM_ZMMM512_IMM8", "k1", "zmm1", "zmm2", 1)),
    ("AVX512BW", "kaddq k1, k2, k3", ("VEX_KADDQ_KR_KR_KR", "k1", "k2", "k3")),
    ("AVX512BW", "kshiftlq k1, k2, 13", ("VEX_KSHIFTLQ_KR_KR_IMM8", "k1", "k2", 13)),
    ("AVX512VL", "vpaddd ymm0{k1}, ymm17, ymm2", ("EVEX_VPADDD_YMM_K1Z_YMM_YMMM256B32", "ymm0", "ymm17", "ymm2", {"k": "k1"})),
    ("AVX512_IFMA", "vpmadd52luq zmm0, zmm1, zmm2", ("EVEX_VPMADD52LUQ_ZMM_K1Z_ZMM_ZMMM512B64", "zmm0", "zmm1", "zmm2")),
    ("AVX512_IFMA", "vpmadd52huq zmm0, zmm1, zmm2", ("EVEX_VPMADD52HUQ_ZMM_K1Z_ZMM_ZMMM512B64", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VBMI", "vpermb zmm0, zmm1, zmm2", ("EVEX_VPERMB_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VBMI", "vpermt2b zmm0, zmm1, zmm2", ("EVEX_VPERMT2B_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VBMI", "vpmultishiftqb zmm0, zmm1, zmm2", ("EVEX_VPMULTISHIFTQB_ZMM_K1Z_ZMM_ZMMM512B64", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VBMI2", "vpshldvd zmm0, zmm1, zmm2", ("EVEX_VPSHLDVD_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VBMI2", "vpcompressb zmm0{k1}, zmm1", ("EVEX_VPCOMPRESSB_ZMMM512_K1Z_ZMM", "zmm0", "zmm1", {"k": "k1"})),
    ("AVX512_VNNI", "vpdpbusd zmm0, zmm1, zmm2", ("EVEX_VPDPBUSD_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VNNI", "vpdpwssds zmm0, zmm1, zmm2", ("EVEX_VPDPWSSDS_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512_BITALG", "vpopcntb zmm0, zmm1", ("EVEX_VPOPCNTB_ZMM_K1Z_ZMMM512", "zmm0", "zmm1")),
    ("AVX512_BITALG", "vpshufbitqmb k1, zmm1, zmm2", ("EVEX_VPSHUFBITQMB_KR_K1_ZMM_ZMMM512", "k1", "zmm1", "zmm2")),
    ("AVX512_VPOPCNTDQ", "vpopcntd zmm0, zmm1", ("EVEX_VPOPCNTD_ZMM_K1Z_ZMMM512B32", "zmm0", "zmm1")),
    ("GFNI (EVEX)", "vgf2p8mulb zmm0, zmm1, zmm2", ("EVEX_VGF2P8MULB_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("GFNI (EVEX)", "vgf2p8affineqb zmm0, zmm1, zmm2, 0x63", ("EVEX_VGF2P8AFFINEQB_ZMM_K1Z_ZMM_ZMMM512B64_IMM8", "zmm0", "zmm1", "zmm2", 0x63)),
    ("GFNI (EVEX)", "vgf2p8affineqb zmm0, zmm1, zmm2, 0", ("EVEX_VGF2P8AFFINEQB_ZMM_K1Z_ZMM_ZMMM512B64_IMM8", "zmm0", "zmm1", "zmm2", 0)),
    ("GFNI (EVEX)", "vgf2p8affineinvqb zmm0, zmm1, zmm2, 0x63", ("EVEX_VGF2P8AFFINEINVQB_ZMM_K1Z_ZMM_ZMMM512B64_IMM8", "zmm0", "zmm1", "zmm2", 0x63)),
    ("GFNI (VEX)", "vgf2p8affineqb ymm0, ymm1, ymm2, 0x63", ("VEX_VGF2P8AFFINEQB_YMM_YMM_YMMM256_IMM8", "ymm0", "ymm1", "ymm2", 0x63)),
    ("GFNI (SSE)", "gf2p8affineqb xmm0, xmm2, 0x63", ("GF2P8AFFINEQB_XMM_XMMM128_IMM8", "xmm0", "xmm2", 0x63)),
    ("AVX512_BITALG", "vpshufbitqmb k1, ymm1, ymm2", ("EVEX_VPSHUFBITQMB_KR_K1_YMM_YMMM256", "k1", "ymm1", "ymm2")),
    ("VAES (EVEX)", "vaesenc zmm0, zmm1, zmm2", ("EVEX_VAESENC_ZMM_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("VAES (EVEX)", "vaesdeclast zmm0, zmm1, zmm2", ("EVEX_VAESDECLAST_ZMM_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("VPCLMULQDQ (EVEX)", "vpclmulqdq zmm0, zmm1, zmm2, 0x11", ("EVEX_VPCLMULQDQ_ZMM_ZMM_ZMMM512_IMM8", "zmm0", "zmm1", "zmm2", 0x11)),
    ("AVX512F common", "vpermi2ps zmm0, zmm1, zmm2", ("EVEX_VPERMI2PS_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vcompressps zmm0{k1}, zmm1", ("EVEX_VCOMPRESSPS_ZMMM512_K1Z_ZMM", "zmm0", "zmm1", {"k": "k1"})),
    ("AVX512F common", "vpmovdb xmm0, zmm1", ("EVEX_VPMOVDB_XMMM128_K1Z_ZMM", "xmm0", "zmm1")),
    ("AVX512F common", "vcvtdq2ps zmm0, zmm1", ("EVEX_VCVTDQ2PS_ZMM_K1Z_ZMMM512B32_ER", "zmm0", "zmm1")),
    ("AVX512F common", "vcvttps2dq zmm0, zmm1", ("EVEX_VCVTTPS2DQ_ZMM_K1Z_ZMMM512B32_SAE", "zmm0", "zmm1")),
    ("AVX512F common", "vcvtps2udq zmm0, zmm1", ("EVEX_VCVTPS2UDQ_ZMM_K1Z_ZMMM512B32_ER", "zmm0", "zmm1")),
    ("AVX512F common", "vmaxps zmm0, zmm1, zmm2", ("EVEX_VMAXPS_ZMM_K1Z_ZMM_ZMMM512B32_SAE", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vminps zmm0, zmm1, zmm2", ("EVEX_VMINPS_ZMM_K1Z_ZMM_ZMMM512B32_SAE", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vcmpps k1, zmm1, zmm2, 0x1d", ("EVEX_VCMPPS_KR_K1_ZMM_ZMMM512B32_IMM8_SAE", "k1", "zmm1", "zmm2", 0x1D)),
    ("AVX512F common", "vsqrtps zmm0, zmm1", ("EVEX_VSQRTPS_ZMM_K1Z_ZMMM512B32_ER", "zmm0", "zmm1")),
    ("AVX512F common", "vdivps zmm0, zmm1, zmm2", ("EVEX_VDIVPS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vrcp14ps zmm0, zmm1", ("EVEX_VRCP14PS_ZMM_K1Z_ZMMM512B32", "zmm0", "zmm1")),
    ("AVX512F common", "vfnmadd213ps zmm0, zmm1, zmm2", ("EVEX_VFNMADD213PS_ZMM_K1Z_ZMM_ZMMM512B32_ER", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vgetmantps zmm0, zmm1, 0x6", ("EVEX_VGETMANTPS_ZMM_K1Z_ZMMM512B32_IMM8_SAE", "zmm0", "zmm1", 6)),
    ("AVX512F common", "vcvtph2ps zmm0, ymm1", ("EVEX_VCVTPH2PS_ZMM_K1Z_YMMM256_SAE", "zmm0", "ymm1")),
    ("AVX512F common", "vpsrlvd zmm0, zmm1, zmm2", ("EVEX_VPSRLVD_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512F common", "vprold zmm0, zmm1, 7", ("EVEX_VPROLD_ZMM_K1Z_ZMMM512B32_IMM8", "zmm0", "zmm1", 7)),
    ("AVX512F common", "vshufps zmm0, zmm1, zmm2, 0x4e", ("EVEX_VSHUFPS_ZMM_K1Z_ZMM_ZMMM512B32_IMM8", "zmm0", "zmm1", "zmm2", 0x4E)),
    ("AVX512F common", "vinsertf32x4 zmm0, zmm1, xmm2, 2", ("EVEX_VINSERTF32X4_ZMM_K1Z_ZMM_XMMM128_IMM8", "zmm0", "zmm1", "xmm2", 2)),
    ("AVX512F common", "vpermq zmm0, zmm1, 0x1b", ("EVEX_VPERMQ_ZMM_K1Z_ZMMM512B64_IMM8", "zmm0", "zmm1", 0x1B)),
    ("AVX512F common", "vpbroadcastd zmm0{k1}, xmm1", ("EVEX_VPBROADCASTD_ZMM_K1Z_XMMM32", "zmm0", "xmm1", {"k": "k1"})),
    ("AVX512F common", "vptestmd k1, zmm1, zmm2", ("EVEX_VPTESTMD_KR_K1_ZMM_ZMMM512B32", "k1", "zmm1", "zmm2")),
    ("AVX512F common", "kortestw k1, k2", ("VEX_KORTESTW_KR_KR", "k1", "k2")),
    ("AVX512BW common", "vpshufb zmm0, zmm1, zmm2", ("EVEX_VPSHUFB_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vpalignr zmm0, zmm1, zmm2, 5", ("EVEX_VPALIGNR_ZMM_K1Z_ZMM_ZMMM512_IMM8", "zmm0", "zmm1", "zmm2", 5)),
    ("AVX512BW common", "vpmaddubsw zmm0, zmm1, zmm2", ("EVEX_VPMADDUBSW_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vpmaddwd zmm0, zmm1, zmm2", ("EVEX_VPMADDWD_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vpacksswb zmm0, zmm1, zmm2", ("EVEX_VPACKSSWB_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vpmulhrsw zmm0, zmm1, zmm2", ("EVEX_VPMULHRSW_ZMM_K1Z_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vpsadbw zmm0, zmm1, zmm2", ("EVEX_VPSADBW_ZMM_ZMM_ZMMM512", "zmm0", "zmm1", "zmm2")),
    ("AVX512BW common", "vmovdqu8 zmm0{k1}, zmm1", ("EVEX_VMOVDQU8_ZMM_K1Z_ZMMM512", "zmm0", "zmm1", {"k": "k1"})),
    ("AVX512DQ common", "vcvttpd2qq zmm0, zmm1", ("EVEX_VCVTTPD2QQ_ZMM_K1Z_ZMMM512B64_SAE", "zmm0", "zmm1")),
    ("AVX512_BF16", "vdpbf16ps zmm0, zmm1, zmm2", ("EVEX_VDPBF16PS_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512_BF16", "vcvtne2ps2bf16 zmm0, zmm1, zmm2", ("EVEX_VCVTNE2PS2BF16_ZMM_K1Z_ZMM_ZMMM512B32", "zmm0", "zmm1", "zmm2")),
    ("AVX512_FP16", "vaddph zmm0, zmm1, zmm2", ("EVEX_VADDPH_ZMM_K1Z_ZMM_ZMMM512B16_ER", "zmm0", "zmm1", "zmm2")),
    ("AVX512_VP2INTERSECT", "vp2intersectd k2, zmm1, zmm2", ("EVEX_VP2INTERSECTD_KP1_ZMM_ZMMM512B32", "k2", "zmm1", "zmm2")),
    ("AVX512ER (KNL)", "vexp2ps zmm0, zmm1", ("EVEX_VEXP2PS_ZMM_K1Z_ZMMM512B32_SAE", "zmm0", "zmm1")),
    ("AVX-VNNI (VEX)", "{vex} vpdpbusd ymm0, ymm1, ymm2", ("VEX_VPDPBUSD_YMM_YMM_YMMM256", "ymm0", "ymm1", "ymm2")),
    ("FMA", "vfmadd231ps ymm0, ymm1, ymm2", ("VEX_VFMADD231PS_YMM_YMM_YMMM256", "ymm0", "ymm1", "ymm2")),
    ("BMI2", "pdep rax, rbx, rcx", ("VEX_PDEP_R64_R64_RM64", "rax", "rbx", "rcx")),
]


def random_states(n: int, seed: int = 1) -> list[X86State]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        s = X86State()
        if i % 2:
            s.zmm = [struct.pack("<16f", *[rnd.uniform(-100, 100) for _ in range(16)]) for _ in range(32)]
        else:
            s.zmm = [rnd.randbytes(64) for _ in range(32)]
        s.k = [rnd.getrandbits(64) for _ in range(8)]
        for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9"):
            s.gpr[r] = rnd.getrandbits(64)
        out.append(s)
    return out


def _summary(res: list) -> str:
    e = [r for r in res if isinstance(r, ExceptionResult)]
    if not e:
        return "ok"
    names = sorted({r.name for r in e})
    return "/".join(names) if len(e) == len(res) else f"ok, {len(e)} x {'/'.join(names)}"


def _same(a, b) -> bool:
    if isinstance(a, ExceptionResult) or isinstance(b, ExceptionResult):
        return isinstance(a, ExceptionResult) and isinstance(b, ExceptionResult) and a.vector == b.vector
    return a == b


def _diff(bres: list, nres: list) -> str:
    """'0', or 'N (fields)' naming which parts of the state differ."""
    bad = [(a, b) for a, b in zip(bres, nres) if not _same(a, b)]
    if not bad:
        return "0"
    fields = set()
    for a, b in bad:
        if isinstance(a, ExceptionResult) or isinstance(b, ExceptionResult):
            fields.add("exception")
            continue
        for f in ("zmm", "k", "gpr", "rflags", "mem"):
            if getattr(a, f) != getattr(b, f):
                fields.add(f)
        if a.mxcsr != b.mxcsr:
            fields.add("mxcsr flags " + "|".join(n for bit, n in ((1, "IE"), (2, "DE"), (4, "ZE"), (8, "OE"),
                                                               (16, "UE"), (32, "PE"))
                                                 if (a.mxcsr ^ b.mxcsr) & bit))
    return f"**{len(bad)}** ({', '.join(sorted(fields))})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tigerlake")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--md", default=None)
    args = ap.parse_args(argv)
    states = random_states(args.n)
    models = args.models.split(",")
    codes = [asm64(p[2]) for p in PROBES]
    allcodes = [c for c in codes for _ in states]
    allstates = [s for _ in codes for s in states]
    per_model = {}
    for m in models:
        res = bochs.BochsRunner(m).run_many(allcodes, allstates)
        per_model[m] = [res[i * len(states):(i + 1) * len(states)] for i in range(len(codes))]
    nat = None
    if native.available():
        nr = native.NativeRunner()
        res = nr.run_many(allcodes, allstates)
        nat = [res[i * len(states):(i + 1) * len(states)] for i in range(len(codes))]
        nr.close()
    hdr = ["extension", "instruction"] + [f"bochs {m}" for m in models]
    if nat:
        hdr += ["native (this host)", f"bochs {models[0]} vs native: differing states / {len(states)}"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for i, (ext, text, _) in enumerate(PROBES):
        row = [ext, f"`{text}`"] + [_summary(per_model[m][i]) for m in models]
        if nat:
            row.append(_summary(nat[i]))
            row.append(_diff(per_model[models[0]][i], nat[i]))
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
