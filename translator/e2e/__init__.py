"""End-to-end runs of real JIT kernels: the translated SVE code under qemu-user (through the
AAPCS64 `symbol` entry and the kernel's real argument struct) against the original x86 code run
natively (bit for bit) and against numpy (within the operation's tolerance).

    from translator.e2e import KERNELS, load_kernel, run_native, run_qemu, translate_kernel
    spec = KERNELS["eltwise_exp"]; k = load_kernel(spec)
    case = spec.make(np.random.default_rng(0))
    sve = run_qemu(translate_kernel(k), case.request)
    x86 = run_native(k.code, k.address, case.request)

See KERNELS.md for the kernels, their argument structs and shapes.
"""
from .onednn import KERNELS, Case, KernelSpec, Output, ReferenceMismatch, bit_diff, corpus_jitdump, load_kernel
from .request import Buffer, Request, Result
from .runners import E2EError, native_missing, qemu_missing, run_native, run_qemu

__all__ = ["KERNELS", "Case", "KernelSpec", "Output", "ReferenceMismatch", "bit_diff", "corpus_jitdump",
           "load_kernel", "Buffer", "Request", "Result", "E2EError", "native_missing", "qemu_missing",
           "run_native", "run_qemu", "translate_kernel", "digest", "GOLDEN"]

from pathlib import Path as _Path

# recorded native x86 outputs, for hosts without AVX-512 (python -m translator.e2e --record)
GOLDEN = _Path(__file__).resolve().parents[2] / "tests" / "data" / "e2e" / "native_outputs.json"


def digest(req_or_res, names=None) -> str:
    """A short hash of a request (its encoding) or of a result's named output buffers."""
    import hashlib
    h = hashlib.sha256()
    if isinstance(req_or_res, Request):
        h.update(req_or_res.encode())
    else:
        for n in names:
            h.update(req_or_res.buffers[n])
    return h.hexdigest()[:32]


def translate_kernel(k, symbol: str = "kernel", nan_mode: str = "exact", **kw) -> str:
    """GNU-as text of the kernel record ``k`` translated as the AAPCS64 function ``symbol``."""
    from ..translate import translate
    t = translate(k.code, base=k.address, symbol=symbol, nan_mode=nan_mode, **kw)
    return t.asm()
