"""Real oneDNN 3.2 AVX-512 kernels (the corpus's jitdump), their argument structs, inputs and
numpy references. KERNELS.md documents each one (what it computes, struct, shapes).

    spec = KERNELS["eltwise_exp"]
    k = load_kernel(spec)                       # the jitdump record (name, address, code)
    case = spec.make(np.random.default_rng(0))  # a Request plus what to compare
    nat = run_native(k.code, k.address, case.request)
    case.check_reference(nat)                   # numpy, within the op's tolerance
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .request import Request, Result

__all__ = ["KERNELS", "KernelSpec", "Case", "Output", "corpus_jitdump", "load_kernel", "ReferenceMismatch"]

JITDUMP_NAME = "onednn-avx512-core.jit.dump"


def _rows_in_window(ih0: int, k: int, h: int) -> tuple[int, int, int]:
    """A kernel window of ``k`` rows starting at input row ``ih0`` (negative: top padding) over an
    input of ``h`` rows: (first real input row, first kernel row used, kernel rows used)."""
    ih_start = max(0, ih0)
    kh_start = ih_start - ih0
    return ih_start, kh_start, min(k, h - ih0) - kh_start


def corpus_jitdump() -> Optional[Path]:
    """The AVX-512 jitdump: $X2SVE_CORPUS/jitdump/..., else ../shared/corpus beside the clone."""
    cands = []
    if os.environ.get("X2SVE_CORPUS"):
        cands.append(Path(os.environ["X2SVE_CORPUS"]))
    cands.append(Path(__file__).resolve().parents[3] / "shared" / "corpus")
    for c in cands:
        p = c / "jitdump" / JITDUMP_NAME
        if p.is_file():
            return p
    return None


@lru_cache(maxsize=4)
def _records(path: str):
    from ..decode.jitdump import read_jitdump
    return read_jitdump(path)


def load_kernel(spec: "KernelSpec", path: Optional[Path] = None):
    """The spec's jitdump record; checks the name and the code's hash."""
    path = path or corpus_jitdump()
    if path is None:
        raise FileNotFoundError(f"{JITDUMP_NAME} not found (set X2SVE_CORPUS)")
    recs = _records(str(path))
    k = recs[spec.index]
    h = hashlib.sha256(k.code).hexdigest()
    if k.name != spec.name or not h.startswith(spec.sha256):
        raise ValueError(f"record {spec.index} is {k.name} {h[:16]}, expected {spec.name} {spec.sha256}")
    return k


class ReferenceMismatch(AssertionError):
    pass


@dataclass
class Output:
    """A buffer to compare: bit-exact between runs, and against ``expected`` within tolerance
    where ``mask`` (default: everywhere) holds."""
    buffer: str
    expected: np.ndarray
    rtol: float = 0.0
    atol: float | np.ndarray = 0.0
    mask: Optional[np.ndarray] = None
    dtype: type = np.float32      # or "bf16" (uint16 bits, compared as the float they encode)


@dataclass
class Case:
    request: Request
    outputs: list[Output]
    note: str = ""
    unchanged: list[str] = field(default_factory=list)    # buffers the kernel must not modify

    def check_reference(self, res: Result, who: str = "") -> None:
        """Raise ReferenceMismatch when an output is outside its tolerance of the numpy value."""
        msgs = []
        for o in self.outputs:
            if isinstance(o.dtype, str) and o.dtype == "bf16":
                got = _from_bf16(res.array(o.buffer, np.uint16))
            else:
                got = res.array(o.buffer, o.dtype)
            got = got.reshape(o.expected.shape).astype(np.float64)
            exp = o.expected.astype(np.float64)
            m = np.ones(exp.shape, bool) if o.mask is None else o.mask
            both_nan = np.isnan(got) & np.isnan(exp)
            same = (got == exp) | both_nan
            with np.errstate(invalid="ignore", over="ignore"):
                close = np.abs(got - exp) <= o.atol + o.rtol * np.abs(exp)
            bad = m & ~(same | close)
            if bad.any():
                idx = np.argwhere(bad)
                i = tuple(idx[0])
                msgs.append(f"{o.buffer}: {len(idx)} of {int(m.sum())} elements out of tolerance; first at "
                            f"{i}: got {got[i]!r}, numpy {exp[i]!r}")
        for name in self.unchanged:
            i = self.request.index(name)
            before, after = bytearray(self.request.buffers[i].data), bytearray(res.buffers[name])
            for b, off, _, _ in self.request.patches:     # pointer slots hold run-time addresses
                if b == i:
                    before[off:off + 8] = after[off:off + 8] = bytes(8)
            if before != after:
                msgs.append(f"{name}: modified, but the kernel must leave it alone")
        if msgs:
            raise ReferenceMismatch(f"{who} vs numpy: " + "; ".join(msgs))


def bit_diff(a: Result, b: Result, buffers: list[str]) -> list[str]:
    """Buffers that differ between two runs, each with its first differing 32-bit word."""
    out = []
    for name in buffers:
        x, y = a.buffers[name], b.buffers[name]
        if x == y:
            continue
        n = min(len(x), len(y)) // 4 * 4
        u = np.frombuffer(x[:n], np.uint32)
        v = np.frombuffer(y[:n], np.uint32)
        d = np.nonzero(u != v)[0]
        if len(d):
            i = int(d[0])
            fu, fv = (struct.unpack("<f", struct.pack("<I", int(w)))[0] for w in (u[i], v[i]))
            out.append(f"{name}: {len(d)} words differ; first word {i}: {int(u[i]):#010x} ({fu!r}) vs "
                       f"{int(v[i]):#010x} ({fv!r})")
        else:
            out.append(f"{name}: trailing bytes differ")
    return out


# ---------------------------------------------------------------------------------------------
# eltwise: jit_uni_eltwise_fwd kernel (name "jit_uni_kernel"), argument struct jit_args_t
#   0x00 const void *src; 0x08 void *dst; 0x10 const void *diff_dst; 0x18 size_t work_amount;
#   0x20 const void *post_ops_binary_rhs_arg_vec            (dense f32, 16 floats a main step)

ELT_ARGS_SIZE = 0x28


def _eltwise_case(fn: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, specials: list[float],
                  rtol: float, atol, domain: Callable[[np.ndarray], np.ndarray], n_main: int = 6,
                  n_tail: int = 7) -> Callable[[np.random.Generator], Case]:
    def make(rng: np.random.Generator) -> Case:
        n = 16 * n_main + n_tail                 # the vector loop and the one-element tail loop
        x = rng.uniform(lo, hi, n).astype(np.float32)
        sp = np.array(specials, np.float32)
        pos = rng.choice(n, size=len(sp), replace=False)
        x[pos] = sp
        r = Request()
        r.add("args", ELT_ARGS_SIZE)
        r.add("src", x, guard_end=True)
        r.add("dst", np.full(n, np.nan, np.float32), guard_end=True)
        r.pointer("args", 0x00, "src")
        r.pointer("args", 0x08, "dst")
        a = bytearray(r.buffers[0].data)
        struct.pack_into("<Q", a, 0x18, n)
        r.buffers[0].data = bytes(a)
        r.call("args")
        with np.errstate(all="ignore"):
            ref = fn(x.astype(np.float64))
        at = atol(x.astype(np.float64)) if callable(atol) else atol
        return Case(r, [Output("dst", ref, rtol, at, mask=domain(x))], unchanged=["src"],
                    note=f"{n} elements ({n_main} vector steps, {n_tail} tail steps)")
    return make


def _gelu_erf(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


_SPECIALS = [0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e-40, -1e-40]


# ---------------------------------------------------------------------------------------------
# pooling: jit_uni_pool_kernel (avx512_core, f32, nChw16c, 2x2 window, stride 2, 14 output
# columns per call, one channel block), argument struct jit_pool_call_s (3.2):
#   0x00 src, 0x08 dst, 0x10 indices, 0x18 src_prf, 0x20 dst_prf, 0x28 indices_prf,
#   0x30 post_ops_binary_rhs_arg_vec, 0x38 dst_orig, 0x40 dst_po_helper, 0x48 zero_ih,
#   0x50 zero_id, 0x58 zero_ptr, 0x60 kd_padding, 0x68 kh_padding, 0x70 kh_padding_shift,
#   0x78 kd_padding_shift, 0x80 kw_padding, 0x88 init_value, 0x90 float ker_area_h,
#   0x98 ur_bc, 0xa0 b_c

POOL_ARGS_SIZE = 0xa8
POOL_OW, POOL_KW, POOL_C = 14, 2, 16


def _pool_case(kind: str) -> Callable[[np.random.Generator], Case]:
    def make(rng: np.random.Generator) -> Case:
        r = Request()
        outs = []
        for kh in (1, 2, 3):                    # kh_padding: rows of the window inside the input
            src = rng.uniform(-100, 100, (kh, POOL_OW * POOL_KW, POOL_C)).astype(np.float32)
            if kind == "max" and kh == 2:
                src[0, 0, :4] = [np.inf, -np.inf, -3.4e38, 0.0]
            win = src.astype(np.float64).reshape(kh, POOL_OW, POOL_KW, POOL_C)
            if kind == "max":
                ref, atol = win.max(axis=(0, 2)), 0.0
            else:          # f32 sums of kh*kw terms, then a division: bound from the magnitudes
                ref = win.sum(axis=(0, 2)) / (POOL_KW * kh)
                atol = 1.2 * (kh * POOL_KW + 2) * 2.0 ** -24 * np.abs(win).sum(axis=(0, 2)) / (POOL_KW * kh)
            s, d, a = f"src_kh{kh}", f"dst_kh{kh}", f"args_kh{kh}"
            r.add(a, POOL_ARGS_SIZE)
            r.add(s, src, guard_end=True)
            r.add(d, np.full((POOL_OW, POOL_C), np.nan, np.float32), guard_end=True)
            r.pointer(a, 0x00, s)
            r.pointer(a, 0x08, d)
            b = bytearray(r.buffers[r.index(a)].data)
            struct.pack_into("<Q", b, 0x68, kh)                # kh_padding
            struct.pack_into("<f", b, 0x90, float(kh))         # ker_area_h (avg: divisor kw * this)
            struct.pack_into("<Q", b, 0x98, 1)                 # ur_bc
            r.buffers[r.index(a)].data = bytes(b)
            r.call(a)
            outs.append(Output(d, ref, 0.0, atol))
        srcs = [b.name for b in r.buffers if b.name.startswith("src")]
        return Case(r, outs, unchanged=srcs, note="three calls: kh_padding 1, 2, 3")
    return make


# ---------------------------------------------------------------------------------------------
# brgemm: jit_brgemm_kernel_t (f32, batch of address pairs, M=110 (5 blocks of 22 rows), K=64,
# N=3 (the N tail: opmask 0b111), LDA=64, LDB=16, LDC=6), argument struct brgemm_kernel_params_t:
#   0x00 ptr_A, 0x08 ptr_B, 0x10 batch, 0x18 ptr_C, 0x20 ptr_bias, 0x28 ptr_D, 0x30 ptr_scales,
#   0x38 ptr_buf, 0x40 do_post_ops, 0x48 do_apply_comp, 0x50 BS, 0x58 post_ops_binary_rhs_arg_vec,
#   0x60 oc_logical_off, 0x68 first_mb_matrix_addr_off, 0x70 dst_row_logical_off, 0x78 data_C_ptr_,
#   0x80 a_zp_compensations, 0x88 b_zp_compensations, 0x90 c_zp_values, 0x98 skip_accm,
#   0xa0 int32 zp_a_val, 0xa8 ptr_dst_scales
# brgemm_batch_element_t (0x20 bytes): 0x00 A pointer, 0x08 B pointer, 0x10/0x18 padding info.

BRG_ARGS_SIZE = 0xb0
BRG_M, BRG_K, BRG_N, BRG_LDA, BRG_LDB, BRG_LDC = 110, 64, 3, 64, 16, 6


def _brgemm_case(beta: float) -> Callable[[np.random.Generator], Case]:
    def make(rng: np.random.Generator) -> Case:
        r = Request()
        nmat = 3
        As, Bs = [], []
        for i in range(nmat):
            A = rng.uniform(-1, 1, (BRG_M, BRG_LDA)).astype(np.float32)
            # B ends right after the last element the kernel may read (row K-1, column N-1)
            Bfull = rng.uniform(-1, 1, (BRG_K, BRG_LDB)).astype(np.float32)
            Bflat = Bfull.reshape(-1)[:(BRG_K - 1) * BRG_LDB + BRG_N]
            r.add(f"A{i}", A)
            r.add(f"B{i}", Bflat, guard_end=True)
            As.append(A.astype(np.float64))
            Bs.append(Bfull.astype(np.float64))
        outs = []
        # (batch size, which matrices, skip_accm)
        for j, (bs, mats, skip) in enumerate([(2, (0, 1), 0), (3, (2, 0, 1), 0), (1, (1,), 1)]):
            args, batch, C, D = f"args{j}", f"batch{j}", f"C{j}", f"D{j}"
            C0 = rng.uniform(-1, 1, (BRG_M, BRG_LDC)).astype(np.float32)
            r.add(args, BRG_ARGS_SIZE)
            r.add(batch, 0x20 * bs)
            r.add(C, C0, guard_end=True)
            r.add(D, 64)
            for e, m in enumerate(mats):
                r.pointer(batch, 0x20 * e, f"A{m}")
                r.pointer(batch, 0x20 * e + 8, f"B{m}")
            r.pointer(args, 0x10, batch)
            r.pointer(args, 0x18, C)
            r.pointer(args, 0x28, D)
            b = bytearray(r.buffers[r.index(args)].data)
            struct.pack_into("<Q", b, 0x50, bs)
            struct.pack_into("<Q", b, 0x98, skip)
            struct.pack_into("<i", b, 0xa0, 1)
            r.buffers[r.index(args)].data = bytes(b)
            r.call(args)
            ref = C0.astype(np.float64).copy()
            acc = np.zeros((BRG_M, BRG_N))
            mag = np.zeros((BRG_M, BRG_N))
            if not skip:
                for m in mats:
                    acc += As[m][:, :BRG_K] @ Bs[m][:, :BRG_N]
                    mag += np.abs(As[m][:, :BRG_K]) @ np.abs(Bs[m][:, :BRG_N])
            if beta:
                mag += np.abs(ref[:, :BRG_N])
                acc += ref[:, :BRG_N]
            ref[:, :BRG_N] = acc
            n_terms = BRG_K * len(mats) + 1
            atol = np.zeros_like(ref)
            atol[:, :BRG_N] = 1.2 * n_terms * 2.0 ** -24 * mag + 1e-30
            outs.append(Output(C, ref, 0.0, atol))
        unchanged = [b.name for b in r.buffers if b.name[0] in "ABD" or b.name.startswith("batch")]
        return Case(r, outs, unchanged=unchanged,
                    note="three calls: BS=2, BS=3, and skip_accm=1 (BS=1)")
    return make


# ---------------------------------------------------------------------------------------------
# conv fwd: _jit_avx512_common_conv_fwd_kernel (record 10), f32, first layer of a ResNet: src nchw
# 3x224x224, weights Ohwi16o (one 16-oc block: [kh][kw][ic][16]), dst nChw16c, 7x7, stride 2,
# padding 3 (l_pad 3 and the right overflow baked into the first/last ow blocks), 112 output
# columns per call (4 blocks of 28: zmm0..27). One call computes one output row oh of one oc
# block over kh_padding filter rows. Struct jit_conv_call_s (3.2), the fields this kernel reads
# (offsets from its code, confirmed by the native run): 0x00 src, 0x08 dst, 0x10 filt, 0x18 bias,
# 0xf0 kh_padding, 0x1e0 flags (FLAG_IC_FIRST = 0x10: dst = conv + bias, else dst += conv).

CONV_ARGS_SIZE = 0x1e8
CONV_IC, CONV_IH, CONV_IW, CONV_K, CONV_S, CONV_P, CONV_OW, CONV_OC = 3, 224, 224, 7, 2, 3, 112, 16


def _conv_case(rng: np.random.Generator) -> Case:
    r = Request()
    x = rng.uniform(-1, 1, (CONV_IC, CONV_IH, CONV_IW)).astype(np.float32)
    w = rng.uniform(-1, 1, (CONV_K, CONV_K, CONV_IC, CONV_OC)).astype(np.float32)   # [kh][kw][ic][o]
    bias = rng.uniform(-1, 1, CONV_OC).astype(np.float32)
    r.add("src", x, guard_end=True)
    r.add("wei", w, guard_end=True)
    r.add("bias", bias)
    xp = np.zeros((CONV_IC, CONV_IH + 2 * CONV_P, CONV_IW + 2 * CONV_P))
    xp[:, CONV_P:-CONV_P, CONV_P:-CONV_P] = x
    w64 = w.astype(np.float64)
    outs = []
    for j, (oh, first) in enumerate([(0, True), (1, True), (50, True), (111, True), (77, False)]):
        ih0 = CONV_S * oh - CONV_P                       # first input row of the window
        ih_start, kh_start, kh_n = _rows_in_window(ih0, CONV_K, CONV_IH)
        a, d = f"args{j}", f"dst{j}"
        d0 = rng.uniform(-1, 1, (CONV_OW, CONV_OC)).astype(np.float32)
        r.add(a, CONV_ARGS_SIZE)
        r.add(d, d0, guard_end=True)
        r.pointer(a, 0x00, "src", ih_start * CONV_IW * 4)
        r.pointer(a, 0x08, d)
        r.pointer(a, 0x10, "wei", kh_start * CONV_K * CONV_IC * CONV_OC * 4)
        r.pointer(a, 0x18, "bias")
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<Q", b, 0xf0, kh_n)
        struct.pack_into("<i", b, 0x1e0, 0x10 if first else 0)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        # window rows of the padded input: oh*2 .. oh*2+6; columns ow*2 .. ow*2+6
        win = np.stack([xp[:, CONV_S * oh + kh, kw:kw + CONV_S * CONV_OW:CONV_S]
                        for kh in range(CONV_K) for kw in range(CONV_K)])          # [kh*kw][ic][ow]
        wk = w64.reshape(CONV_K * CONV_K, CONV_IC, CONV_OC)
        acc = np.einsum("kcw,kco->wo", win, wk)
        mag = np.einsum("kcw,kco->wo", np.abs(win), np.abs(wk))
        base = bias.astype(np.float64) if first else d0.astype(np.float64)
        ref = acc + base
        atol = 1.2 * (CONV_K * CONV_K * CONV_IC + 2) * 2.0 ** -24 * (mag + np.abs(base)) + 1e-30
        outs.append(Output(d, ref, 0.0, atol))
    return Case(r, outs, unchanged=["src", "wei", "bias"],
                note="five calls: oh 0, 1 (top padding), 50, 111 (bottom), 77 accumulating (no IC_FIRST)")


# ---------------------------------------------------------------------------------------------
# softmax: jit_softmax_kernel_t (avx512_core, dense, axis = the innermost 1000 elements, one row
# per call), argument struct call_params_t (3.2):
#   0x00 src, 0x08 dst, 0x10 diff_dst, 0x18 interim, 0x20 src_scales, 0x28 dst_scales,
#   0x30 size_t process_n_elems, 0x38 post_ops_binary_rhs_arg_vec, 0x40 dst_orig
# The loops are 64 elements (4 vectors) a step while process_n_elems >= 64, then a tail baked in
# for axis 1000: 2 vectors + 8 elements under k2 = 0xff. Scales are loaded as full vectors
# (`vmovups zmm31, [rsi]`): 16 floats each. dst doubles as the exp() scratch (f32 dst).

SMAX_ARGS_SIZE = 0x48
SMAX_AXIS = 1000


def _bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits (uint16), round to nearest even (finite inputs)."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7fff + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def _from_bf16(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


def _softmax_case(kind: str) -> Callable[[np.random.Generator], Case]:
    """kind: "f32" (softmax), "log" (logsoftmax, f32), "bf16" (softmax, bf16 src and dst)."""
    def make(rng: np.random.Generator) -> Case:
        r = Request()
        outs = []
        rows = [rng.normal(0, 3, SMAX_AXIS), rng.uniform(-80, 20, SMAX_AXIS), rng.normal(0, 0.01, SMAX_AXIS)]
        rows[1][:5] = [-1e30, 20.0, 19.999, -200.0, 0.0]         # exp underflow below ln FLT_MIN
        scales = [(1.0, 1.0), (1.5, 0.5), (1.0, 2.0)]
        for j, (row, (ss, ds)) in enumerate(zip(rows, scales)):
            a, s, d, sc, dc = f"args{j}", f"src{j}", f"dst{j}", f"sscale{j}", f"dscale{j}"
            if kind == "bf16":
                bits = _bf16(row)
                x = _from_bf16(bits).astype(np.float64)
                r.add(s, bits, guard_end=True)
                r.add(d, np.full(SMAX_AXIS, 0x7fc1, np.uint16), guard_end=True)
            else:
                x32 = row.astype(np.float32)
                x = x32.astype(np.float64)
                r.add(s, x32, guard_end=True)
                r.add(d, np.full(SMAX_AXIS, np.nan, np.float32), guard_end=True)
            r.add(a, SMAX_ARGS_SIZE)
            r.add(sc, np.full(16, ss, np.float32))
            r.add(dc, np.full(16, ds, np.float32))
            r.pointer(a, 0x00, s)
            r.pointer(a, 0x08, d)
            r.pointer(a, 0x20, sc)
            r.pointer(a, 0x28, dc)
            b = bytearray(r.buffers[r.index(a)].data)
            struct.pack_into("<Q", b, 0x30, SMAX_AXIS)
            r.buffers[r.index(a)].data = bytes(b)
            r.call(a)
            z = x - x.max()
            e = np.exp(z)
            e[z < math.log(np.finfo(np.float32).tiny)] = 0.0        # the kernel's exp flushes there
            if kind == "log":
                ref = (z - np.log(e.sum())) * ss * ds
                atol = 2e-6 * (np.abs(z) + abs(np.log(e.sum())) + 1.0) * ss * ds
                outs.append(Output(d, ref, 0.0, atol))
            else:
                ref = e / e.sum() * ss * ds
                if kind == "bf16":      # exp() is stored to dst as bf16, then scaled: two roundings
                    outs.append(Output(d, ref, 2.0 ** -7 + 2e-5, 1e-30, dtype="bf16"))
                else:
                    outs.append(Output(d, ref, 4e-6, 1e-30))
        srcs = [b.name for b in r.buffers if b.name[:3] in ("src", "ssc", "dsc")]
        return Case(r, outs, unchanged=srcs, note="three rows of 1000, scales (1, 1), (1.5, 0.5), (1, 2)")
    return make


# ---------------------------------------------------------------------------------------------
# brdgmm: jit_brdgmm_kernel_base_t (record 21), f32 depthwise batch-reduce GEMM with bias and a
# relu post-op: D[m, n] = max(0, bias[n] + sum_b A_b[m, n] * B_b[n]), M = 28 (4 blocks of 7 rows),
# N = 64 (4 vectors), LDA = LDD = 64 floats. Struct brgemm_kernel_params_t (as for brgemm):
# 0x10 batch, 0x18 ptr_C (only advanced), 0x20 ptr_bias, 0x28 ptr_D, 0x50 BS.
# brgemm_batch_element_t: 0x00 A, 0x08 B, 0x10 vvpad.top, 0x18 vvpad.bottom: with padding, rows
# m < top and m >= M - bottom of that batch element are skipped; the first skipped-row count of
# a 7-row block selects the entry point through a jump table (`jmp qword [rax]`, 7 entries).

BRDG_M, BRDG_N, BRDG_BLK = 28, 64, 7


def _brdgmm_case(rng: np.random.Generator) -> Case:
    r = Request()
    nmat = 4
    As, Bs = [], []
    for i in range(nmat):
        A = rng.uniform(-1, 1, (BRDG_M, BRDG_N)).astype(np.float32)
        B = rng.uniform(-1, 1, BRDG_N).astype(np.float32)
        r.add(f"A{i}", A, guard_end=True)
        r.add(f"B{i}", B, guard_end=True)
        As.append(A.astype(np.float64))
        Bs.append(B.astype(np.float64))
    bias = rng.uniform(-0.5, 0.5, BRDG_N).astype(np.float32)
    r.add("bias", bias, guard_end=True)
    outs = []
    # each call: [(matrix, top, bottom)]; top <= 6 (the jump table has entries 0..6)
    calls = [[(0, 0, 0), (1, 0, 0)],
             [(2, 3, 0), (0, 0, 2), (1, 6, 0), (3, 1, 5)],
             [(3, 0, 0), (2, 2, 7), (1, 0, 1)],
             []]                                                   # BS = 0: bias and relu only
    for j, elems in enumerate(calls):
        args, batch, C, D = f"args{j}", f"batch{j}", f"C{j}", f"D{j}"
        r.add(args, BRG_ARGS_SIZE)
        r.add(batch, max(0x20 * len(elems), 8))
        r.add(C, 64)
        r.add(D, np.full((BRDG_M, BRDG_N), np.nan, np.float32), guard_end=True)
        b = bytearray(r.buffers[r.index(batch)].data)
        for e, (m, top, bot) in enumerate(elems):
            r.pointer(batch, 0x20 * e, f"A{m}")
            r.pointer(batch, 0x20 * e + 8, f"B{m}")
            struct.pack_into("<qq", b, 0x20 * e + 0x10, top, bot)
        r.buffers[r.index(batch)].data = bytes(b)
        r.pointer(args, 0x10, batch)
        r.pointer(args, 0x18, C)
        r.pointer(args, 0x20, "bias")
        r.pointer(args, 0x28, D)
        a = bytearray(r.buffers[r.index(args)].data)
        struct.pack_into("<Q", a, 0x50, len(elems))
        r.buffers[r.index(args)].data = bytes(a)
        r.call(args)
        acc = np.zeros((BRDG_M, BRDG_N))
        mag = np.zeros((BRDG_M, BRDG_N))
        for m, top, bot in elems:
            rows = np.zeros(BRDG_M, bool)
            rows[top:BRDG_M - bot] = True
            acc[rows] += As[m][rows] * Bs[m]
            mag[rows] += np.abs(As[m][rows] * Bs[m])
        acc += bias.astype(np.float64)
        mag += np.abs(bias.astype(np.float64))
        ref = np.maximum(acc, 0.0)
        atol = 1.2 * (len(elems) + 2) * 2.0 ** -24 * mag + 1e-30
        outs.append(Output(D, ref, 0.0, atol))
    unchanged = [b.name for b in r.buffers if b.name[0] in "ABC" or b.name.startswith(("batch", "bias"))]
    return Case(r, outs, unchanged=unchanged,
                note="four calls: BS=2 unpadded; BS=4 with top/bottom padding (jump table entries 0, 1, 3, 6); "
                     "BS=3 with a block-spanning bottom pad; BS=0")


# ---------------------------------------------------------------------------------------------
# layer norm: jit_lnorm_stat_and_data_kernel_t (record 43), f32 forward, C = 1000 baked in (62
# vectors + 8 under k1 = 0xff), statistics computed (two passes: mean, then sum (x - mean)^2),
# not saved; scale and shift per channel. Argument struct ker_args_t (3.2):
#   0x00 src, 0x08 dst, 0x10 scale, 0x18 shift, 0x20 mean, 0x28 var (both only advanced here),
#   0x30 src_scales, 0x38 dst_scales (one float each, broadcast), 0x40 size_t block_size (bytes
#   of src: rows * C * 4), 0x48 float eps
# dst = ((x - mean) / sqrt(var + eps) * scale + shift) * src_scale * dst_scale, row by row.

LN_ARGS_SIZE = 0x50
LN_C = 1000


def _lnorm_case(rng: np.random.Generator) -> Case:
    r = Request()
    scale = rng.uniform(0.5, 1.5, LN_C).astype(np.float32)
    shift = rng.uniform(-1, 1, LN_C).astype(np.float32)
    r.add("scale", scale, guard_end=True)
    r.add("shift", shift, guard_end=True)
    outs = []
    # (rows, generator, eps, src_scale, dst_scale)
    calls = [(3, lambda n: rng.normal(0, 1, n), 1e-5, 1.0, 1.0),
             (2, lambda n: rng.uniform(5, 7, n), 1e-3, 2.0, 0.75),
             (1, lambda n: rng.normal(0, 1e-3, n), 1e-2, 1.0, 1.0)]
    for j, (rows, gen, eps, ss, ds) in enumerate(calls):
        a, s, d = f"args{j}", f"src{j}", f"dst{j}"
        x = gen(rows * LN_C).astype(np.float32).reshape(rows, LN_C)
        r.add(a, LN_ARGS_SIZE)
        r.add(s, x, guard_end=True)
        r.add(d, np.full((rows, LN_C), np.nan, np.float32), guard_end=True)
        r.add(f"mean{j}", 4 * rows)
        r.add(f"var{j}", 4 * rows)
        r.add(f"sscale{j}", np.array([ss], np.float32))
        r.add(f"dscale{j}", np.array([ds], np.float32))
        for off, t in [(0x00, s), (0x08, d), (0x10, "scale"), (0x18, "shift"), (0x20, f"mean{j}"),
                       (0x28, f"var{j}"), (0x30, f"sscale{j}"), (0x38, f"dscale{j}")]:
            r.pointer(a, off, t)
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<Q", b, 0x40, rows * LN_C * 4)
        struct.pack_into("<f", b, 0x48, eps)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        x64 = x.astype(np.float64)
        mu = x64.mean(axis=1, keepdims=True)
        var = ((x64 - mu) ** 2).mean(axis=1, keepdims=True)
        inv = 1.0 / np.sqrt(var + np.float64(np.float32(eps)))
        z = (x64 - mu) * inv
        ref = (z * scale + shift) * ss * ds
        # f32: the mean (sum of 1000) is off by ~1e-5 |x|max relative, the variance by ~1e-5
        rel = 2.0 ** -24 * 8 * (np.abs(x64).max(axis=1, keepdims=True) * inv + np.abs(z) + 1.0)
        atol = (rel * np.abs(scale) + 2.0 ** -23 * np.abs(shift)) * ss * ds + 1e-30
        outs.append(Output(d, ref, 0.0, atol))
    unchanged = [b.name for b in r.buffers if b.name.startswith(("src", "scale", "shift", "mean", "var", "ssc", "dsc"))]
    return Case(r, outs, unchanged=unchanged,
                note="three calls: 3 rows N(0,1) eps 1e-5; 2 rows U(5,7) eps 1e-3, scales 2, 0.75; "
                     "1 row N(0,1e-3) eps 1e-2")


# ---------------------------------------------------------------------------------------------
# reorder: jit_uni_reorder_kernel_f32 (records 52, 53), f32 nchw 28x28 planes (0xc40 bytes apart)
# into channel-innermost layouts; shapes baked in, argument struct tr::call_param_t (3.2):
#   0x00 in, 0x08 out, 0x10 src_scales, 0x18 dst_scales, 0x20 int32 src_zp, 0x24 int32 dst_zp,
#   0x28 compensation_scratch                  (these two kernels read only in and out)
# 52: f32 [2][64][784] -> s8 [2][784][64]: `vpinsrd` gathers 4 channels, `vminps` 127,
#     `vcvtps2dq` (MXCSR round to nearest even), `vpmovsdb` (saturation), 4-byte `vmovss` stores.
# 53: f32 [8][16][784] -> bf16 [8][784][16] (C = 128, nChw16c): `vpinsrd` gathers, then the
#     round-to-nearest-even bf16 emulation (`vfixupimmps` for NaN), 8-byte `vmovsd` stores.

REORD_ARGS_SIZE = 0x30
REORD_HW = 784


def _reorder_s8(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        y = np.where(np.isnan(x), 127.0, np.minimum(x, 127.0))
        y = np.rint(y)
        y = np.where(y < -2.0 ** 31, -128.0, y)                      # cvt indefinite -> -128
    return np.clip(y, -128, 127)


def _reorder_case(kind: str) -> Callable[[np.random.Generator], Case]:
    def make(rng: np.random.Generator) -> Case:
        if kind == "s8":
            shape = (2, 64, REORD_HW)
            x = rng.uniform(-200, 200, shape).astype(np.float32)
            x.reshape(-1)[: 40 * 4:4] = rng.integers(-140, 140, 40) + 0.5       # ties: to even
        else:
            shape = (8, 16, REORD_HW)
            x = (rng.normal(0, 1, shape) * 10.0 ** rng.integers(-5, 6, shape)).astype(np.float32)
        sp = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-40, -1e-40, 126.5, 127.5,
                       -128.5, -127.5, 2.5, -2.5, 1.5], np.float32)
        pos = rng.choice(x.size, len(sp), replace=False)
        x.reshape(-1)[pos] = sp
        r = Request()
        r.add("args", REORD_ARGS_SIZE)
        r.add("src", x, guard_end=True)
        x64 = x.astype(np.float64)
        if kind == "s8":
            r.add("dst", np.full((shape[0], REORD_HW, shape[1]), 0x55, np.int8), guard_end=True)
            ref = _reorder_s8(x64).transpose(0, 2, 1)
            out = Output("dst", ref, 0.0, 0.0, dtype=np.int8)
        else:
            r.add("dst", np.full((shape[0], REORD_HW, shape[1]), 0x7fc1, np.uint16), guard_end=True)
            ref = _from_bf16(_bf16(x)).astype(np.float64)
            ref[np.isnan(x64)] = np.nan
            out = Output("dst", ref.transpose(0, 2, 1), 0.0, 0.0, dtype="bf16")
        r.pointer("args", 0x00, "src")
        r.pointer("args", 0x08, "dst")
        r.call("args")
        return Case(r, [out], unchanged=["src"], note=f"{x.size} elements incl. specials")
    return make


# ---------------------------------------------------------------------------------------------
# batch norm: jit_bnorm_t (record 47), f32 forward inference (global statistics), nChw16c, 28x28
# (784 spatial positions a channel block, baked in), scale and shift. Struct call_params_t (3.2):
#   0x00 N_ithr, 0x08 N_nthr, 0x10 coff_max (channels), 0x18 soff_max (bytes), 0x20 mb_stride_Bc,
#   0x28 spat_size, 0x30 spat_size_loc, 0x38 S_s, 0x40 S_tail, 0x48 is_cblk_tail,
#   0x50 float chan_size, 0x54 float eps, 0x58 float one, 0x60 scale, 0x68 shift, 0x70 mean,
#   0x78 var, 0x80 diff_scale, 0x88 diff_shift, 0x90 src, 0x98 dst, 0xa0 diff_src, 0xa8 diff_dst,
#   0xb0 rbuf1, 0xb8 rbuf2, 0xc0 ws, 0xc8 barrier
# dst = (x - mean) * (scale / sqrt(var + eps)) + shift; loops: src/dst offset r10 from 0 while
# < soff_max (+ mb_stride_Bc after each pass over the channels), channel blocks (16) while
# < coff_max; a 64-byte aligned dst takes `vmovntps` stores, otherwise `vmovups`.

BN_ARGS_SIZE = 0xd0
BN_HW = 784


def _bnorm_case(rng: np.random.Generator) -> Case:
    r = Request()
    outs = []
    # (N, C, dst misaligned by 4 bytes?, eps)
    for j, (n, c, mis, eps) in enumerate([(2, 32, False, 1e-5), (1, 48, True, 0.1)]):
        a, s, d = f"args{j}", f"src{j}", f"dst{j}"
        x = rng.normal(0.5, 2.0, (n, c // 16, BN_HW, 16)).astype(np.float32)
        mean = rng.uniform(-1, 1, c).astype(np.float32)
        var = rng.uniform(0.01, 4, c).astype(np.float32)
        scale = rng.uniform(-2, 2, c).astype(np.float32)
        shift = rng.uniform(-1, 1, c).astype(np.float32)
        r.add(a, BN_ARGS_SIZE)
        r.add(s, x, guard_end=True)
        r.add(d, np.full(x.size + (1 if mis else 0), np.nan, np.float32), guard_end=not mis)
        for nm, v in (("mean", mean), ("var", var), ("scale", scale), ("shift", shift)):
            r.add(f"{nm}{j}", v, guard_end=True)
        for off, t in ((0x60, f"scale{j}"), (0x68, f"shift{j}"), (0x70, f"mean{j}"), (0x78, f"var{j}"),
                       (0x90, s)):
            r.pointer(a, off, t)
        r.pointer(a, 0x98, d, 4 if mis else 0)
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<QQQQ", b, 0x08, 1, c, x.nbytes, 0)      # N_nthr, coff_max, soff_max, mb_stride_Bc
        struct.pack_into("<QQ", b, 0x28, BN_HW, BN_HW)
        struct.pack_into("<fff", b, 0x50, float(n * BN_HW), eps, 1.0)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        cs = lambda v: v.astype(np.float64).reshape(c // 16, 1, 16)
        inv = cs(scale) / np.sqrt(cs(var) + np.float64(np.float32(eps)))
        zc = x.astype(np.float64) - cs(mean)
        ref = zc * inv + cs(shift)
        atol = 4 * 2.0 ** -24 * (np.abs(zc * inv) + np.abs(cs(shift))) + 1e-30
        if mis:      # dst starts 4 bytes into its buffer: compare from there
            ref = np.concatenate([[np.nan], ref.reshape(-1)])
            atol = np.concatenate([[0.0], np.broadcast_to(atol, x.shape).reshape(-1)])
        outs.append(Output(d, ref, 0.0, atol))
    unchanged = [b.name for b in r.buffers if b.name.startswith(("src", "mean", "var", "scale", "shift"))]
    return Case(r, outs, unchanged=unchanged,
                note="two calls: N=2 C=32 (aligned dst: vmovntps), N=1 C=48 (dst 4 bytes off: vmovups)")


# ---------------------------------------------------------------------------------------------
# int8 conv fwd: _jit_avx512_core_x8s8s32x_conv_fwd_ker_t (record 24), avx512_core without VNNI:
# u8 src nhwc [28][28][64], s8 weights for 4 oc blocks of 16 (OIhw4i16o4i: [ocb 4][icb 4][kh 3]
# [kw 3][ic/4 4][16 o][4 i]), u8 dst nhwc [28][28][64]; 3x3, stride 1, padding 1 (the left/right
# pads baked into the first (5 columns) and last (3 columns) ow blocks, 4 middle blocks of 5).
# Per 4 input channels: `vpbroadcastd` of 4 src bytes, `vpmaddubsw` (u8 x s8 pairs summed with
# signed 16-bit saturation), `vpmaddwd` with 1s (pairs of s16 -> s32), `vpaddd`. Then
# dst = u8(rint(min(max(relu(f32(acc) * scales + bias), 0), 255))) (`vcvtdq2ps`, `vmulps`,
# `vaddps`, the eltwise relu `vmaxps` with a table 0, `vmaxps`/`vminps` 0/255, `vcvtps2dq`,
# `vpmovusdb`). Struct jit_conv_call_s (3.2); read: 0x00 src, 0x08 dst, 0x10 filt, 0x18 bias
# (f32, 64), 0x40 scales (loaded as one 16-float vector for every oc block: oneDNN passes the
# common output scale replicated 16 times), 0xf0 kh_padding. One call = one output row.

I8C_H = I8C_W = 28
I8C_IC = I8C_OC = 64
I8C_K = 3


def _int8_conv_case(rng: np.random.Generator, weights: int = 128) -> Case:
    """``weights=64``: s8 weights in [-64, 63], as oneDNN scales them on cores without VNNI, so
    that every fused dot group (translator/lower/fuse.py) takes its udot fast path."""
    r = Request()
    x = rng.integers(0, 256, (I8C_H, I8C_W, I8C_IC)).astype(np.uint8)
    w = rng.integers(-weights, weights, (I8C_OC, I8C_IC, I8C_K, I8C_K)).astype(np.int8)  # [o][i][kh][kw]
    x[5, :4, :8] = 255
    w[:3, :8] = weights - 1                              # 127: saturating vpmaddubsw pairs (255*127*2)
    w[3:5, :8] = -weights
    bias = rng.uniform(-40, 80, I8C_OC).astype(np.float32)
    scales = rng.uniform(2e-4, 8e-4, 16).astype(np.float32)
    # OIhw4i16o4i: [ocb][icb][kh][kw][ic/4][16 o][4 i]
    wk = w.reshape(4, 16, 4, 4, 4, I8C_K, I8C_K).transpose(0, 2, 5, 6, 3, 1, 4)
    r.add("src", x, guard_end=True)
    r.add("wei", np.ascontiguousarray(wk), guard_end=True)
    r.add("bias", bias, guard_end=True)
    r.add("scales", scales, guard_end=True)
    # reference: per pair of input channels s16-saturated u8*s8 products, summed in s32
    xp = np.zeros((I8C_H + 2, I8C_W + 2, I8C_IC), np.int64)
    xp[1:-1, 1:-1] = x
    w64 = w.astype(np.int64)
    outs = []
    for j, oh in enumerate([0, 1, 5, 14, 27]):
        ih0 = oh - 1
        ih_start, kh_start, kh_n = _rows_in_window(ih0, I8C_K, I8C_H)
        a, d = f"args{j}", f"dst{j}"
        r.add(a, CONV_ARGS_SIZE)
        r.add(d, np.full((I8C_W, I8C_OC), 0x5a, np.uint8), guard_end=True)
        r.pointer(a, 0x00, "src", ih_start * I8C_W * I8C_IC)
        r.pointer(a, 0x08, d)
        r.pointer(a, 0x10, "wei", kh_start * I8C_K * 0x100)
        r.pointer(a, 0x18, "bias")
        r.pointer(a, 0x40, "scales")
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<Q", b, 0xf0, kh_n)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        acc = np.zeros((I8C_W, I8C_OC), np.int64)
        for kh in range(I8C_K):
            for kw in range(I8C_K):
                win = xp[oh + kh, kw:kw + I8C_W]                              # [ow][ic]
                prod = win[:, None, :] * w64[None, :, :, kh, kw]             # [ow][oc][ic]
                pairs = prod[..., 0::2] + prod[..., 1::2]
                acc += np.clip(pairs, -32768, 32767).sum(axis=-1)
        f = acc.astype(np.int32).astype(np.float32) * np.tile(scales, 4) + bias
        f = np.minimum(np.maximum(np.maximum(f, np.float32(0)), np.float32(0)), np.float32(255))
        outs.append(Output(d, np.rint(f).astype(np.float64), 0.0, 0.0, dtype=np.uint8))
    return Case(r, outs, unchanged=["src", "wei", "bias", "scales"],
                note="five calls (output rows): oh 0 (top pad), 1, 5 (saturating pairs), 14, 27 (bottom pad)")


# ---------------------------------------------------------------------------------------------
# conv bwd data: _jit_avx512_common_conv_bwd_data_kernel_f32 (record 4), f32, nChw16c, 3x3,
# stride 1, padding 1, 28 columns: one call computes one diff_src row (28 pixels x 16 ic,
# accumulators zmm0..27) from one 16-oc block: diff_src[iw][i] = sum_{kh, kw, o}
# diff_dst[ih + 1 - kh][iw + 1 - kw][o] * w[kh][kw][o][i] (weights OIhw16o16i, a 16x16 block:
# [kh][kw][16 o][16 i], 0x400 bytes a kw, 0xc00 a kh). The kh loop walks diff_dst back one row
# (0x700 bytes) and filt forward 0xc00. Struct jit_conv_call_s (3.2); read: 0x00 src (diff_src),
# 0x08 dst (diff_dst), 0x10 filt, 0xf0 kh_padding, 0x130 channel (nonzero: the old diff_src is
# added before the store: accumulation over oc blocks).

BWDD_W, BWDD_H, BWDD_K = 28, 28, 3
BWDD_NOCB = 2                    # oc blocks (two calls a row: channel 0, then channel 1)


def _conv_bwd_data_case(rng: np.random.Generator) -> Case:
    r = Request()
    dd = rng.uniform(-1, 1, (BWDD_NOCB, BWDD_H, BWDD_W, 16)).astype(np.float32)      # diff_dst nChw16c
    w = rng.uniform(-1, 1, (BWDD_NOCB, BWDD_K, BWDD_K, 16, 16)).astype(np.float32)  # [ocb][kh][kw][o][i]
    for c in range(BWDD_NOCB):
        r.add(f"diff_dst{c}", dd[c], guard_end=True)
        r.add(f"wei{c}", w[c], guard_end=True)
    ddp = np.zeros((BWDD_NOCB, BWDD_H + 2, BWDD_W + 2, 16))
    ddp[:, 1:-1, 1:-1] = dd
    w64 = w.astype(np.float64)
    outs = []
    for j, ih in enumerate([0, 1, 13, 27]):
        # valid kh: oh = ih + 1 - kh inside [0, H)
        khs = [kh for kh in range(BWDD_K) if 0 <= ih + 1 - kh < BWDD_H]
        s = f"diff_src{j}"
        r.add(s, np.full((BWDD_W, 16), np.nan, np.float32), guard_end=True)
        for c in range(BWDD_NOCB):
            a = f"args{j}_{c}"
            r.add(a, CONV_ARGS_SIZE)
            r.pointer(a, 0x00, s)
            r.pointer(a, 0x08, f"diff_dst{c}", (ih + 1 - khs[0]) * BWDD_W * 64)
            r.pointer(a, 0x10, f"wei{c}", khs[0] * 0xc00)
            b = bytearray(r.buffers[r.index(a)].data)
            struct.pack_into("<Q", b, 0xf0, len(khs))
            struct.pack_into("<Q", b, 0x130, c)                   # channel: accumulate after the first
            r.buffers[r.index(a)].data = bytes(b)
            r.call(a)
        acc = np.zeros((BWDD_W, 16))
        mag = np.zeros((BWDD_W, 16))
        for c in range(BWDD_NOCB):
            for kh in range(BWDD_K):
                for kw in range(BWDD_K):
                    win = ddp[c, ih + 1 - kh + 1, 1 - kw + 1:1 - kw + 1 + BWDD_W]          # [iw][o]
                    acc += win @ w64[c, kh, kw]
                    mag += np.abs(win) @ np.abs(w64[c, kh, kw])
        n = BWDD_NOCB * BWDD_K * BWDD_K * 16 + 2
        outs.append(Output(s, acc, 0.0, 1.2 * n * 2.0 ** -24 * mag + 1e-30))
    unchanged = [b.name for b in r.buffers if b.name.startswith(("diff_dst", "wei"))]
    return Case(r, outs, unchanged=unchanged,
                note="four diff_src rows (ih 0, 1, 13, 27), each two calls: oc block 0 (channel 0), oc block 1 (channel 1: accumulate)")


# ---------------------------------------------------------------------------------------------
# conv bwd weights: jit_avx512_common_conv_bwd_weights_kernel_f32 (record 5), f32, nChw16c
# 28x28, 3x3, stride 1, padding 1, one 16x16 (ic block x oc block) diff_weights block per call,
# harness_2d_reduction (`compute_oh_loop_partial`): output rows os_index_begin..os_index_end of
# one image, diff_w[kh][kw][i][o] += sum_{oh, ow} src[oh - 1 + kh][ow - 1 + kw][i] diff_dst[oh][ow][o]
# (OIhw16i16o: [kh][kw][16 i][16 o], 0xc00 bytes a kh), diff_bias[o] += sum diff_dst[oh][ow][o].
# Accumulators: 3 kw x ic_block_step 8 (zmm0..23), two ic steps, loaded from and stored back to
# diff_w for every output row. Struct jit_conv_call_s (3.2); read: 0x00 src, 0x08 dst (diff_dst),
# 0x10 filt (diff_weights), 0x18 bias (diff_bias), 0xb0 kh_offset (bytes, added to filt),
# 0xc0 os_index_begin, 0xd0 os_index_end, 0xf0 kh_padding, 0x130 channel (nonzero: zero the
# diff_weights block (and diff_bias unless flags) first), 0x1e0 flags (nonzero: no diff_bias).
# The driver computes src/kh_padding/kh_offset as oneDNN's compute_diff_weights_2d does.

BWDW_H, BWDW_W, BWDW_K = 28, 28, 3


def _conv_bwd_weights_case(rng: np.random.Generator) -> Case:
    r = Request()
    nimg = 2
    x = rng.uniform(-1, 1, (nimg, 2, BWDW_H, BWDW_W, 16)).astype(np.float32)     # [n][icb][h][w][16]
    dd = rng.uniform(-1, 1, (nimg, BWDW_H, BWDW_W, 16)).astype(np.float32)       # [n][h][w][16] (one oc block)
    for n in range(nimg):
        for icb in range(2):
            r.add(f"src{n}_{icb}", x[n, icb], guard_end=True)
        r.add(f"diff_dst{n}", dd[n], guard_end=True)

    def call(tag, n, icb, wei, bias, oh_s, oh_e, channel, flags):
        ih_s = -1 + oh_s
        top = max(0, -ih_s)
        bottom = max(0, ih_s - BWDW_H + BWDW_K)
        a = f"args_{tag}"
        r.add(a, CONV_ARGS_SIZE)
        r.pointer(a, 0x00, f"src{n}_{icb}", (ih_s + top) * BWDW_W * 64)
        r.pointer(a, 0x08, f"diff_dst{n}", oh_s * BWDW_W * 64)
        r.pointer(a, 0x10, wei)
        r.pointer(a, 0x18, bias)
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<Q", b, 0xb0, min(BWDW_K - 1, top) * BWDW_K * 16 * 16 * 4)   # kh_offset
        struct.pack_into("<Q", b, 0xc0, oh_s)
        struct.pack_into("<Q", b, 0xd0, oh_e)
        struct.pack_into("<Q", b, 0xf0, BWDW_K - top - bottom)                        # kh_padding
        struct.pack_into("<Q", b, 0x130, channel)
        struct.pack_into("<i", b, 0x1e0, flags)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)

    xp = np.zeros((nimg, 2, BWDW_H + 2, BWDW_W + 2, 16))
    xp[:, :, 1:-1, 1:-1] = x
    dd64 = dd.astype(np.float64)

    def ref(parts):        # parts: [(image, ic block)]
        acc = np.zeros((BWDW_K, BWDW_K, 16, 16))
        mag = np.zeros_like(acc)
        for n, icb in parts:
            for kh in range(BWDW_K):
                for kw in range(BWDW_K):
                    win = xp[n, icb, kh:kh + BWDW_H, kw:kw + BWDW_W].reshape(-1, 16)       # [oh*ow][i]
                    g = dd64[n].reshape(-1, 16)
                    acc[kh, kw] += win.T @ g
                    mag[kh, kw] += np.abs(win).T @ np.abs(g)
        bsum = sum(dd64[n].reshape(-1, 16).sum(0) for n, _ in parts)
        bmag = sum(np.abs(dd64[n]).reshape(-1, 16).sum(0) for n, _ in parts)
        nt = len(parts) * BWDW_H * BWDW_W + 2
        return (acc, 1.2 * nt * 2.0 ** -24 * mag + 1e-30), (bsum, 1.2 * nt * 2.0 ** -24 * bmag + 1e-30)

    outs = []
    wshape = (BWDW_K, BWDW_K, 16, 16)
    # A: image 0, ic block 0, all rows in one call (channel 1: zero first; flags 0: diff_bias too)
    r.add("dw_a", np.full(wshape, np.nan, np.float32), guard_end=True)
    r.add("db_a", np.full(16, np.nan, np.float32), guard_end=True)
    call("a", 0, 0, "dw_a", "db_a", 0, BWDW_H, 1, 0)
    (w_ref, w_tol), (b_ref, b_tol) = ref([(0, 0)])
    outs += [Output("dw_a", w_ref, 0.0, w_tol), Output("db_a", b_ref, 0.0, b_tol)]
    # B: image 0 rows [0, 11) (zeroing) + rows [11, 28), then image 1 rows [0, 28), ic block 1
    r.add("dw_b", np.full(wshape, np.nan, np.float32), guard_end=True)
    r.add("db_b", np.full(16, np.nan, np.float32), guard_end=True)
    call("b0", 0, 1, "dw_b", "db_b", 0, 11, 1, 0)
    call("b1", 0, 1, "dw_b", "db_b", 11, BWDW_H, 0, 0)
    call("b2", 1, 1, "dw_b", "db_b", 0, BWDW_H, 0, 0)
    (w_ref, w_tol), (b_ref, b_tol) = ref([(0, 1), (1, 1)])
    outs += [Output("dw_b", w_ref, 0.0, w_tol), Output("db_b", b_ref, 0.0, b_tol)]
    # C: flags 1 (not the first ic block): diff_bias left alone; rows [27, 28) then [0, 1):
    # the bottom-only and top-only edges
    r.add("dw_c", np.full(wshape, np.nan, np.float32), guard_end=True)
    r.add("db_c", np.full(16, 7.0, np.float32), guard_end=True)
    call("c0", 1, 0, "dw_c", "db_c", 27, 28, 1, 1)
    call("c1", 1, 0, "dw_c", "db_c", 0, 1, 0, 1)
    acc = np.zeros(wshape)
    mag = np.zeros(wshape)
    for oh in (27, 0):
        for kh in range(BWDW_K):
            for kw in range(BWDW_K):
                win = xp[1, 0, oh + kh, kw:kw + BWDW_W]
                acc[kh, kw] += win.T @ dd64[1, oh]
                mag[kh, kw] += np.abs(win).T @ np.abs(dd64[1, oh])
    outs.append(Output("dw_c", acc, 0.0, 1.2 * 60 * 2.0 ** -24 * mag + 1e-30))
    unchanged = [b.name for b in r.buffers if b.name.startswith(("src", "diff_dst"))] + ["db_c"]
    return Case(r, outs, unchanged=unchanged,
                note="A: one call, all rows; B: rows split over two calls plus a second image (accumulating); "
                     "C: flags=1 (no bias), the last and first rows alone")


# ---------------------------------------------------------------------------------------------
# binary: jit_uni_binary_kernel_t (records 49: add, 50: mul), f32, src0/src1/dst of the same
# shape (no broadcast), argument struct jit_binary_call_s (3.2):
#   0x00 src0, 0x08 src1, 0x10 dst, 0x18 indices, 0x20 scales_src0, 0x28 scales_src1,
#   0x30 size_t spat_offt_count (bytes), 0x38 post_ops_binary_rhs_arg_vec, 0x40 src1_stride_range,
#   0x48 dst_orig
# Loops: 8 vectors (0x200 bytes) a step while the count is >= 0x200, then one vector while
# >= 0x40, then a tail under k2 (never set by this kernel: its shapes have no tail, so the
# driver keeps counts multiples of 64 bytes).

BIN_ARGS_SIZE = 0x50


def _binary_case(op: str) -> Callable[[np.random.Generator], Case]:
    fn = np.add if op == "add" else np.multiply

    def make(rng: np.random.Generator) -> Case:
        r = Request()
        outs = []
        for j, n in enumerate([16 * 29, 16, 16 * 8]):        # 3 x 8 + 5 vectors; 1 vector; 8 vectors
            s0, s1, d, a = f"src0_{j}", f"src1_{j}", f"dst{j}", f"args{j}"
            x = rng.normal(0, 10, n).astype(np.float32)
            y = rng.normal(0, 10, n).astype(np.float32)
            if j == 0:
                sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3e38, -3e38, 1e-30, 1e-20,
                               -1.0, 0.5], np.float32)
                x[:13] = sp
                y[:13] = sp[::-1]
                x[13:26] = sp
                y[13:26] = sp
                # NaN payloads (x86: the first source's NaN wins, signalling ones are quieted)
                nans = np.array([0x7fa00001, 0x7fc00abc, 0xffc12345, 0x7f800002, 0x3f800000, 0xff812345],
                                np.uint32).view(np.float32)
                x[26:32] = nans
                y[26:32] = nans[::-1]
            r.add(a, BIN_ARGS_SIZE)
            r.add(s0, x, guard_end=True)
            r.add(s1, y, guard_end=True)
            r.add(d, np.full(n, np.nan, np.float32), guard_end=True)
            r.pointer(a, 0x00, s0)
            r.pointer(a, 0x08, s1)
            r.pointer(a, 0x10, d)
            b = bytearray(r.buffers[r.index(a)].data)
            struct.pack_into("<Q", b, 0x30, 4 * n)
            r.buffers[r.index(a)].data = bytes(b)
            r.call(a)
            with np.errstate(all="ignore"):
                ref = fn(x, y).astype(np.float64)                 # f32 arithmetic: exact
            outs.append(Output(d, ref, 0.0, 0.0))
        unchanged = [b.name for b in r.buffers if b.name.startswith("src")]
        return Case(r, outs, unchanged=unchanged, note="three calls: 464, 16, 128 floats (specials in the first)")
    return make


# ---------------------------------------------------------------------------------------------
# 1x1 conv: jit_avx512_common_1x1_conv_kernel (record 7), f32, no bias, no post-ops (the
# backward-data/no-bias shape: out[l][p][j] = (old unless REDUCE_FIRST) + sum_r bcast[r][p] *
# load[l][r][j]), nChw16c with 784 (28x28) pixels a channel plane baked in (0xc400 bytes), load
# (weights) blocks of [256 reduce][16] (0x4000 bytes), ur = 7 pixels, explicit `vbroadcastss` +
# `vfmadd231ps`, load blocks of 3, 2 or 1 x 16 channels selected by the remaining load_dim.
# Struct jit_1x1_conv_call_s (3.2):
#   0x00 bcast_data, 0x08 load_data, 0x10 output_data, 0x18 bias_data, 0x20 acc_s32, 0x28 scales,
#   0x30 compensation, 0x38 store_buffer, 0x40 zp_compensation, 0x48 src_zero_point,
#   0x50 dst_zero_point, 0x58 dst_scale, 0x60 post_ops_binary_rhs_arg_vec, 0x68 dst_orig,
#   0x70 load_dim, 0x78 bcast_dim, 0x80 reduce_dim (channels / pixels), 0x88 output_stride,
#   0x90 first_last_flag (FLAG_REDUCE_FIRST = 0x100: store, else add to the output)
# bcast_dim must be a multiple of ur = 7 (the kernel has no ur tail), load_dim and reduce_dim of 16.

C1_ARGS_SIZE = 0x98
C1_HW, C1_RED, C1_NLB = 784, 256, 5


def _conv1x1_case(rng: np.random.Generator) -> Case:
    r = Request()
    x = rng.uniform(-1, 1, (C1_RED // 16, C1_HW, 16)).astype(np.float32)        # bcast: [r/16][p][r%16]
    w = rng.uniform(-1, 1, (C1_NLB, C1_RED, 16)).astype(np.float32)             # load: [l/16][r][l%16]
    r.add("bcast", x, guard_end=True)
    r.add("load", w, guard_end=True)
    xr = x.astype(np.float64).transpose(0, 2, 1).reshape(C1_RED, C1_HW)         # [r][p]
    w64 = w.astype(np.float64)
    outs = []
    # (load_dim, bcast_dim, reduce_dim, REDUCE_FIRST, first pixel, first reduce channel)
    calls = [(80, 784, 256, True, 0, 0),          # load blocks 3 + 2, all pixels
             (32, 70, 128, False, 14, 128),       # accumulate into existing output
             (16, 21, 64, True, 763, 16)]         # one load block, the last 21 pixels
    for j, (ld, bd, rd, first, p0, r0) in enumerate(calls):
        a, o = f"args{j}", f"out{j}"
        nlb = ld // 16
        o0 = rng.uniform(-1, 1, (nlb, C1_HW, 16)).astype(np.float32)
        r.add(a, C1_ARGS_SIZE)
        r.add(o, o0, guard_end=True)
        r.pointer(a, 0x00, "bcast", (r0 // 16 * C1_HW + p0) * 64)
        r.pointer(a, 0x08, "load", r0 * 64)
        r.pointer(a, 0x10, o, p0 * 64)
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<QQQ", b, 0x70, ld, bd, rd)
        struct.pack_into("<Q", b, 0x90, 0x100 if first else 0)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        ref = o0.astype(np.float64).copy()
        atol = np.zeros_like(ref)
        for lb in range(nlb):
            acc = xr[r0:r0 + rd, p0:p0 + bd].T @ w64[lb, r0:r0 + rd]                    # [p][16]
            mag = np.abs(xr[r0:r0 + rd, p0:p0 + bd]).T @ np.abs(w64[lb, r0:r0 + rd])
            base = 0.0 if first else ref[lb, p0:p0 + bd]
            ref[lb, p0:p0 + bd] = acc + base
            atol[lb, p0:p0 + bd] = 1.2 * (rd + 2) * 2.0 ** -24 * (mag + np.abs(base)) + 1e-30
        outs.append(Output(o, ref, 0.0, atol))
    return Case(r, outs, unchanged=["bcast", "load"],
                note="three calls: load 80 (blocks 3 + 2) x 784 pixels x 256, REDUCE_FIRST; load 32 x 70 "
                     "pixels x 128 accumulating; load 16 x the last 21 pixels x 64, REDUCE_FIRST")


# ---------------------------------------------------------------------------------------------
# int8 1x1 conv: _jit_avx512_core_x8s8s32x_1x1_conv_fwd_ker_t (record 25), avx512_core without
# VNNI: u8 src nhwc (64 ic, 0x40 bytes a pixel), s8 weights [16 oc blocks][64 / 4][16 o][4 i]
# (0x400 bytes an oc block), s32 dst nhwc (256 oc, 0x400 bytes a pixel); bias f32, one 16-float
# scales vector for every oc block (the common scale, replicated). ur = 7 pixels, load blocks of
# 3, 2 or 1 x 16 oc; per 4 ic: `vpbroadcastd`, `vpmaddubsw` (u8 x s8 pairs, s16 saturation),
# `vpmaddwd` by 1s, `vpaddd`; then dst = s32(rint(min(f32(acc) * scale + bias, 2147483520.0)))
# (`vcvtps2dq`: below -2^31 the integer indefinite 0x80000000). Struct jit_1x1_conv_call_s;
# read: 0x00 bcast_data (src), 0x08 load_data (weights), 0x10 output_data, 0x18 bias_data,
# 0x28 scales, 0x70 load_dim (oc), 0x78 bcast_dim (pixels, a multiple of 7), 0x80 reduce_dim
# (ic, a multiple of 16), 0x90 first_last_flag (loaded, unused).

I8C1_HW, I8C1_IC, I8C1_OC = 784, 64, 256


def _int8_conv1x1_case(rng: np.random.Generator, weights: int = 128) -> Case:
    """``weights=64``: 7-bit weights, the fused dot groups' fast path (see _int8_conv_case)."""
    r = Request()
    x = rng.integers(0, 256, (I8C1_HW, I8C1_IC)).astype(np.uint8)
    w = rng.integers(-weights, weights, (I8C1_OC, I8C1_IC)).astype(np.int8)              # [o][i]
    x[:3, :8] = 255
    w[:5, :8] = weights - 1
    w[5:9, :8] = -weights
    bias = rng.uniform(-1000, 1000, I8C1_OC).astype(np.float32)
    r.add("src", x, guard_end=True)
    r.add("wei", np.ascontiguousarray(w.reshape(16, 16, 16, 4).transpose(0, 2, 1, 3)), guard_end=True)
    r.add("bias", bias, guard_end=True)
    x64, w64 = x.astype(np.int64), w.astype(np.int64)
    outs = []
    # (load_dim, bcast_dim, reduce_dim, first pixel, first oc block, scales range)
    calls = [(256, 70, 64, 0, 0, (0.5, 2.0)),          # load blocks 3, 3, 3, 3, 2, 2
             (64, 21, 32, 763, 4, (1e-3, 1e-2)),       # blocks 3 + 1, the last 21 pixels, half the ic
             (32, 7, 64, 350, 14, (2e4, 1e5))]         # block 2; saturates at both ends
    for j, (ld, bd, rd, p0, ob0, (slo, shi)) in enumerate(calls):
        a, d, sc = f"args{j}", f"dst{j}", f"scales{j}"
        s = rng.uniform(slo, shi, 16).astype(np.float32)
        r.add(a, C1_ARGS_SIZE)
        r.add(d, np.full((bd, I8C1_OC), 0x5a5a5a5a, np.int32), guard_end=True)
        r.add(sc, s, guard_end=True)
        r.pointer(a, 0x00, "src", p0 * I8C1_IC)
        r.pointer(a, 0x08, "wei", ob0 * 0x400)
        r.pointer(a, 0x10, d, ob0 * 64)
        r.pointer(a, 0x18, "bias", ob0 * 64)
        r.pointer(a, 0x28, sc)
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<QQQ", b, 0x70, ld, bd, rd)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        oc = slice(ob0 * 16, ob0 * 16 + ld)
        prod = x64[p0:p0 + bd, None, :rd] * w64[None, oc, :rd]                      # [p][o][i]
        acc = np.clip(prod[..., 0::2] + prod[..., 1::2], -32768, 32767).sum(-1)
        f = acc.astype(np.int32).astype(np.float32) * np.tile(s, ld // 16) + bias[oc]
        f = np.minimum(f, np.float32(2147483520.0)).astype(np.float64)
        q = np.rint(f)
        q[q < -2.0 ** 31] = -2.0 ** 31
        ref = np.full((bd, I8C1_OC), float(0x5a5a5a5a))
        ref[:, oc] = q
        outs.append(Output(d, ref, 0.0, 0.0, dtype=np.int32))
    return Case(r, outs, unchanged=["src", "wei", "bias"],
                note="three calls: 256 oc x 70 pixels x 64 ic; 64 oc x the last 21 pixels x 32 ic; "
                     "32 oc x 7 pixels with scales that saturate to INT_MAX / INT_MIN")


# ---------------------------------------------------------------------------------------------
# int8 depthwise conv: _jit_avx512_core_x8s8s32x_conv_fwd_ker_t (record 26, the depthwise
# variant), u8 src nhwc [28][28][64], s8 weights Goihw16g ([4 channel blocks][kh 3][kw 3][16]:
# 0x10 bytes a kw, 0x30 a kh, 0x90 a block), u8 dst nhwc; 3x3, stride 1, padding 1; ow blocks of
# 5 (left pad), 3 x 5, 5, 3 (right pad). Per channel block and kw: `vpmovzxbd` 16 src bytes,
# `vpmovsxbd` 16 weights, `vpmaddwd` (x * w + 0 * (0 or -1): exact products), `vpaddd`. Then
# dst = u8(rint(min(max(f32(acc) * scales + bias, 0), 255))) (no relu post-op here). Struct
# jit_conv_call_s; read: 0x00 src, 0x08 dst, 0x10 filt, 0x18 bias, 0x40 scales (one 16-float
# vector for every channel block), 0xf0 kh_padding. One call = one output row.


def _int8_dw_conv_case(rng: np.random.Generator) -> Case:
    r = Request()
    C = 64
    x = rng.integers(0, 256, (I8C_H, I8C_W, C)).astype(np.uint8)
    w = rng.integers(-128, 128, (C, I8C_K, I8C_K)).astype(np.int8)                     # [c][kh][kw]
    w[:4] = 127
    w[4:8] = -128
    x[7, :, :8] = 255
    bias = rng.uniform(-100, 200, C).astype(np.float32)
    scales = rng.uniform(1.5e-3, 6e-3, 16).astype(np.float32)
    r.add("src", x, guard_end=True)
    r.add("wei", np.ascontiguousarray(w.reshape(4, 16, I8C_K, I8C_K).transpose(0, 2, 3, 1)), guard_end=True)
    r.add("bias", bias, guard_end=True)
    r.add("scales", scales, guard_end=True)
    xp = np.zeros((I8C_H + 2, I8C_W + 2, C), np.int64)
    xp[1:-1, 1:-1] = x
    w64 = w.astype(np.int64)
    outs = []
    for j, oh in enumerate([0, 6, 7, 20, 27]):
        ih0 = oh - 1
        ih_start, kh_start, kh_n = _rows_in_window(ih0, I8C_K, I8C_H)
        a, d = f"args{j}", f"dst{j}"
        r.add(a, CONV_ARGS_SIZE)
        r.add(d, np.full((I8C_W, C), 0x5a, np.uint8), guard_end=True)
        r.pointer(a, 0x00, "src", ih_start * I8C_W * C)
        r.pointer(a, 0x08, d)
        r.pointer(a, 0x10, "wei", kh_start * 0x30)
        r.pointer(a, 0x18, "bias")
        r.pointer(a, 0x40, "scales")
        b = bytearray(r.buffers[r.index(a)].data)
        struct.pack_into("<Q", b, 0xf0, kh_n)
        r.buffers[r.index(a)].data = bytes(b)
        r.call(a)
        acc = np.zeros((I8C_W, C), np.int64)
        for kh in range(I8C_K):
            for kw in range(I8C_K):
                acc += xp[oh + kh, kw:kw + I8C_W] * w64[:, kh, kw]
        f = acc.astype(np.int32).astype(np.float32) * np.tile(scales, 4) + bias
        f = np.minimum(np.maximum(f, np.float32(0)), np.float32(255))
        outs.append(Output(d, np.rint(f).astype(np.float64), 0.0, 0.0, dtype=np.uint8))
    return Case(r, outs, unchanged=["src", "wei", "bias", "scales"],
                note="five calls (output rows): oh 0 (top pad), 6, 7, 20, 27 (bottom pad)")


# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelSpec:
    key: str
    index: int          # JIT_CODE_LOAD record index in the jitdump = NN in dnnl_dump_cpu_*.NN.bin
    name: str
    sha256: str         # prefix of sha256(code)
    what: str
    make: Callable[[np.random.Generator], Case]


def _finite_between(lo, hi):
    return lambda x: np.isfinite(x) & (x >= lo) & (x <= hi)


KERNELS: dict[str, KernelSpec] = {s.key: s for s in [
    KernelSpec("eltwise_exp", 35, "jit_uni_kernel", "63d3936d749f804d",
               "eltwise_exp forward, f32, dense",
               _eltwise_case(np.exp, -87.0, 88.0, _SPECIALS + [np.inf, -np.inf, np.nan, 100.0, -100.0, 88.5],
                             rtol=4e-6, atol=0.0, domain=_finite_between(-87.3, 88.3))),
    KernelSpec("eltwise_gelu_erf", 31, "jit_uni_kernel", "3977628d89501166",
               "eltwise_gelu_erf forward, f32, dense",
               _eltwise_case(_gelu_erf, -8.0, 8.0, _SPECIALS + [np.inf, -np.inf, np.nan, 50.0, -50.0],
                             # 0.5*x*(1 + erf(x/sqrt 2)): 1+erf cancels for x < 0, so the
                             # error is a few ulp of 1, times |x|/2
                             rtol=1e-6, atol=lambda x: 1e-6 * np.abs(x),
                             domain=_finite_between(-1e30, 1e30))),
    KernelSpec("eltwise_tanh", 33, "jit_uni_kernel", "e475817fca896cd2",
               "eltwise_tanh forward, f32, dense",
               _eltwise_case(np.tanh, -10.0, 10.0, _SPECIALS + [np.inf, -np.inf, np.nan, 1e10],
                             rtol=2e-6, atol=0.0, domain=_finite_between(-1e30, 1e30))),
    KernelSpec("pool_max", 45, "jit_uni_pool_kernel", "9383660611d541a1",
               "pooling_max forward, f32, nChw16c, 2x2 window, stride 2, 14 output columns",
               _pool_case("max")),
    KernelSpec("pool_avg", 46, "jit_uni_pool_kernel", "8f091d77fecfd39b",
               "pooling_avg forward, f32, nChw16c, 2x2 window, stride 2, 14 output columns",
               _pool_case("avg")),
    KernelSpec("brgemm_beta0", 18, "jit_brgemm_kernel_t", "5d7ede7ba406ffca",
               "brgemm f32 C = sum_i A_i B_i, M=110 K=64 N=3 (N tail), LDA=64 LDB=16 LDC=6",
               _brgemm_case(0.0)),
    KernelSpec("brgemm_beta1", 17, "jit_brgemm_kernel_t", "19f26ab7f7f6d565",
               "brgemm f32 C += sum_i A_i B_i, M=110 K=64 N=3 (N tail), LDA=64 LDB=16 LDC=6",
               _brgemm_case(1.0)),
    KernelSpec("softmax", 41, "jit_softmax_kernel_t", "fe9eb711c56d8983",
               "softmax forward f32, dense, axis 1000 (one row a call), src/dst scales",
               _softmax_case("f32")),
    KernelSpec("logsoftmax", 42, "jit_softmax_kernel_t", "503c3b61c97774d3",
               "logsoftmax forward f32, dense, axis 1000 (one row a call), src/dst scales",
               _softmax_case("log")),
    KernelSpec("softmax_bf16", 44, "jit_softmax_kernel_t", "f95cc542a057aba4",
               "softmax forward bf16 src and dst (f32 math), dense, axis 1000, src/dst scales",
               _softmax_case("bf16")),
    KernelSpec("brdgmm", 21, "jit_brdgmm_kernel_base_t", "113b1ed5b0171046",
               "brdgmm f32 (depthwise batch-reduce GEMM) D = relu(bias + sum_b A_b * B_b), M=28 N=64, "
               "vertical padding per batch element through a jump table",
               _brdgmm_case),
    KernelSpec("lnorm", 43, "jit_lnorm_stat_and_data_kernel_t", "031b786cb4b3d97d",
               "layer norm forward f32, C=1000, statistics computed, scale and shift, src/dst scales",
               _lnorm_case),
    KernelSpec("reorder_s8", 52, "jit_uni_reorder_kernel_f32", "d586ba460a70b7b1",
               "reorder f32 [2][64][28x28] (nchw) -> s8 [2][28x28][64] (nhwc), saturating, round to even",
               _reorder_case("s8")),
    KernelSpec("reorder_bf16", 53, "jit_uni_reorder_kernel_f32", "429d5f78b946f870",
               "reorder f32 [128][28x28] (nchw) -> bf16 nChw16c, round to nearest even",
               _reorder_case("bf16")),
    KernelSpec("bnorm", 47, "jit_bnorm_t", "589257b192906815",
               "batch norm forward inference f32 (global stats), nChw16c 28x28, scale and shift",
               _bnorm_case),
    KernelSpec("conv_fwd", 10, "_jit_avx512_common_conv_fwd_kernel", "7010f35049cb9ade",
               "conv fwd f32, src nchw 3x224x224, 7x7 stride 2 pad 3, Ohwi16o weights, dst nChw16c, "
               "one output row (112 columns) of one 16-oc block",
               _conv_case),
    KernelSpec("conv_int8", 24, "_jit_avx512_core_x8s8s32x_conv_fwd_ker_t", "30c973e1f648a686",
               "conv fwd int8 (avx512_core, no VNNI): u8 src nhwc 64x28x28, s8 weights 64x64x3x3 "
               "(OIhw4i16o4i), pad 1, s32 acc via vpmaddubsw/vpmaddwd, scales, f32 bias, relu, u8 dst",
               _int8_conv_case),
    KernelSpec("conv_bwd_data", 4, "_jit_avx512_common_conv_bwd_data_kernel_f32", "1cb3f4ddef05ceac",
               "conv bwd data f32, nChw16c 28x28, 3x3 stride 1 pad 1, OIhw16o16i weights, one diff_src row "
               "(28 columns, 16 ic) per call and oc block, accumulated over two oc blocks",
               _conv_bwd_data_case),
    KernelSpec("conv_bwd_weights", 5, "jit_avx512_common_conv_bwd_weights_kernel_f32", "5ef47421231ba601",
               "conv bwd weights f32, nChw16c 28x28, 3x3 stride 1 pad 1, one 16x16 OIhw16i16o diff_weights "
               "block and diff_bias over output rows os_index_begin..end (2d reduction harness)",
               _conv_bwd_weights_case),
    KernelSpec("binary_add", 49, "jit_uni_binary_kernel_t", "e55adfda05598890",
               "binary add f32, same-shape src0/src1 (no broadcast), dense", _binary_case("add")),
    KernelSpec("binary_mul", 50, "jit_uni_binary_kernel_t", "11a28801eacc316f",
               "binary mul f32, same-shape src0/src1 (no broadcast), dense", _binary_case("mul")),
    KernelSpec("conv_1x1", 7, "jit_avx512_common_1x1_conv_kernel", "541d502477b007ba",
               "1x1 conv f32 (no bias), nChw16c 28x28 planes, out[l][p] (+)= sum_r bcast[r][p] load[l][r], "
               "load blocks of 3/2/1 x 16, ur 7, REDUCE_FIRST flag",
               _conv1x1_case),
    KernelSpec("conv_int8_1x1", 25, "_jit_avx512_core_x8s8s32x_1x1_conv_fwd_ker_t", "dd2ed1d8ddb30f90",
               "1x1 conv int8 (avx512_core, no VNNI): u8 src nhwc 64 ic, s8 weights, s32 acc via "
               "vpmaddubsw/vpmaddwd, scales, f32 bias, saturating s32 dst (256 oc)",
               _int8_conv1x1_case),
    KernelSpec("conv_int8_w7", 24, "_jit_avx512_core_x8s8s32x_conv_fwd_ker_t", "30c973e1f648a686",
               "conv_int8 with s8 weights in [-64, 63] (oneDNN's scaled weights on cores without VNNI): "
               "the fused vpmaddubsw/vpmaddwd/vpaddd groups take their udot fast path",
               lambda rng: _int8_conv_case(rng, weights=64)),
    KernelSpec("conv_int8_1x1_w7", 25, "_jit_avx512_core_x8s8s32x_1x1_conv_fwd_ker_t", "dd2ed1d8ddb30f90",
               "conv_int8_1x1 with s8 weights in [-64, 63]: the fused groups' udot fast path",
               lambda rng: _int8_conv1x1_case(rng, weights=64)),
    KernelSpec("conv_int8_dw", 26, "_jit_avx512_core_x8s8s32x_conv_fwd_ker_t", "fd4ee3b2a3f7f14f",
               "depthwise conv int8: u8 src nhwc 64x28x28, s8 3x3 weights (Goihw16g), pad 1, "
               "vpmovzxbd/vpmovsxbd/vpmaddwd, scales, f32 bias, u8 dst",
               _int8_dw_conv_case),
]}
