"""Native x86-64 side of the end-to-end runner (run as a script, in its own process).

argv: CODE_FILE BASE_HEX. stdin: a request (see request.py); stdout: the response.
The kernel's bytes are mapped RWX at BASE (MAP_FIXED_NOREPLACE: JIT kernels embed absolute
addresses of their own tables); buffers are mapped with a PROT_NONE guard page after each.
Exit 3: the code address is taken in this process (the caller retries in a fresh one).
Self-contained on purpose (no translator import: a fresh interpreter per run stays fast).
"""
import ctypes as C
import struct
import sys

PAGE = 0x1000
PROT_NONE, PROT_RW, PROT_RWX = 0, 3, 7
MAP_PRIVATE, MAP_ANON, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000

libc = C.CDLL(None, use_errno=True)
libc.mmap.restype = C.c_void_p
libc.mmap.argtypes = [C.c_void_p, C.c_size_t, C.c_int, C.c_int, C.c_int, C.c_long]
libc.mprotect.argtypes = [C.c_void_p, C.c_size_t, C.c_int]


def _map(addr, size, prot, flags=0):
    p = libc.mmap(addr, size, prot, MAP_PRIVATE | MAP_ANON | flags, -1, 0)
    if p is None or p == C.c_void_p(-1).value:
        return None
    return p


def main():
    code = open(sys.argv[1], "rb").read()
    base = int(sys.argv[2], 16)
    data = sys.stdin.buffer.read()
    if data[:4] != b"X2E1":
        sys.stderr.write("bad request\n")
        sys.exit(2)
    page = base & ~(PAGE - 1)
    size = ((base + len(code) + PAGE - 1) & ~(PAGE - 1)) - page
    p = _map(page, size, PROT_RWX, MAP_FIXED_NOREPLACE)
    if p != page:
        sys.stderr.write(f"cannot map the kernel at {base:#x} (errno {C.get_errno()})\n")
        sys.exit(3)
    C.memmove(base, code, len(code))

    nbuf, npatch, ncall = struct.unpack_from("<III", data, 4)
    o = 16
    addrs, sizes = [], []
    for _ in range(nbuf):
        n, flags, _ = struct.unpack_from("<QII", data, o)
        o += 16
        span = (n + PAGE - 1) & ~(PAGE - 1) or PAGE
        m = _map(None, span + PAGE, PROT_RW)
        if m is None:
            sys.stderr.write("mmap failed\n")
            sys.exit(2)
        libc.mprotect(m + span, PAGE, PROT_NONE)
        a = m + span - n if flags & 1 else m
        C.memmove(a, data[o:o + n], n)
        o += n
        addrs.append(a)
        sizes.append(n)
    for _ in range(npatch):
        b, t, off, toff = struct.unpack_from("<IIQQ", data, o)
        o += 24
        C.memmove(addrs[b] + off, struct.pack("<Q", (addrs[t] + toff) & 0xFFFFFFFFFFFFFFFF), 8)
    calls = struct.unpack_from(f"<{ncall}I", data, o)
    fn = C.CFUNCTYPE(C.c_uint64, C.c_void_p)(base)
    rets = [fn(addrs[i]) for i in calls]
    out = [b"X2R1", struct.pack("<III", 0, ncall, 0), struct.pack(f"<{ncall}Q", *rets)]
    out += [C.string_at(a, n) for a, n in zip(addrs, sizes)]
    sys.stdout.buffer.write(b"".join(out))


if __name__ == "__main__":
    main()
