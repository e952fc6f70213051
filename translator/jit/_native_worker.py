"""Worker for ``runner.run_native``: map x86 code at its base, call it through ctypes.

stdin: pickle {"code", "base", "args": [(kind, value)], "ret"}; stdout: pickle {"ret", "arrays"}.
"""
from __future__ import annotations

import ctypes as C
import pickle
import sys

import numpy as np

PROT_RWX = 7
MAP_PRIVATE, MAP_ANON, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000


def main() -> None:
    job = pickle.loads(sys.stdin.buffer.read())
    code, base = job["code"], job["base"]
    libc = C.CDLL(None, use_errno=True)
    libc.mmap.restype = C.c_void_p
    libc.mmap.argtypes = [C.c_void_p, C.c_size_t, C.c_int, C.c_int, C.c_int, C.c_long]
    size = (len(code) + 0xFFF) & ~0xFFF
    page = base & ~0xFFF
    size = ((base + len(code) + 0xFFF) & ~0xFFF) - page
    p = libc.mmap(page, size, PROT_RWX, MAP_PRIVATE | MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0)
    if p is None or p == C.c_void_p(-1).value or p != page:
        sys.stderr.write(f"cannot map the code at {base:#x} (errno {C.get_errno()})\n")
        sys.exit(3)
    C.memmove(base, code, len(code))
    argtypes, values, arrays = [], [], []
    for kind, v in job["args"]:
        if kind == "ptr":
            a = np.ascontiguousarray(v).copy()
            arrays.append(a)
            argtypes.append(C.c_void_p)
            values.append(a.ctypes.data)
        elif kind == "int":
            argtypes.append(C.c_uint64)
            values.append(v & 0xFFFFFFFFFFFFFFFF)
        elif kind == "f32":
            argtypes.append(C.c_float)
            values.append(v)
        else:
            argtypes.append(C.c_double)
            values.append(v)
    restype = {"int": C.c_uint64, "f32": C.c_float, "f64": C.c_double}[job["ret"]]
    fn = C.CFUNCTYPE(restype, *argtypes)(base)
    r = fn(*values)
    sys.stdout.buffer.write(pickle.dumps({"ret": r, "arrays": [a.tobytes() for a in arrays]}))


if __name__ == "__main__":
    main()
