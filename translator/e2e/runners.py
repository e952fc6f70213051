"""Runners for one kernel call (a request.Request): the translated kernel under qemu-user
(`run_qemu`), the original x86 kernel natively (`run_native`).

qemu side: a small static aarch64 C driver (DRIVER_C) is compiled once to an object file with
``aarch64-linux-gnu-gcc`` and cached in the temp dir (keyed by a hash of its source and flags);
each translated kernel (GNU-as text from ``translate(..., symbol="kernel").asm()``) is assembled
and linked with it, cached by a hash of the assembly, and run as
``qemu-aarch64-static -cpu max,sve512=on driver REQ RSP``.

native side: ``_native_worker.py`` in a fresh interpreter maps the x86 bytes at their load
address and calls them through ctypes (a crash costs the worker, not the caller).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Optional

from .request import Request, Result

__all__ = ["E2EError", "qemu_missing", "native_missing", "build_driver", "run_qemu", "run_native",
           "DRIVER_C"]

QEMU = "qemu-aarch64-static"
CC = "aarch64-linux-gnu-gcc"
CFLAGS = ["-O1", "-march=armv8.2-a+sve"]
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native_worker.py")


class E2EError(RuntimeError):
    """A run failed: build error, crash (signal, pc, fault address), timeout, bad response."""


def qemu_missing() -> Optional[str]:
    """None when the qemu side can run here, else why not."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed"
    if shutil.which(CC) is None:
        return f"{CC} is not installed"
    return None


_AVX512 = ("avx512f", "avx512bw", "avx512dq", "avx512vl")


def native_missing(features: tuple = _AVX512) -> Optional[str]:
    """None when x86 kernels needing these CPU ``features`` (AVX-512 by default) can run
    natively here, else why not."""
    import platform
    if platform.machine() not in ("x86_64", "AMD64") or not sys.platform.startswith("linux"):
        return "not an x86-64 Linux host"
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return "cannot read /proc/cpuinfo"
    for f in features:
        if f" {f}" not in flags:
            return f"this CPU lacks {f}"
    return None


DRIVER_C = r"""/* x2sve end-to-end driver (aarch64, static): runs a translated kernel on a request.
 *
 *   driver REQUEST_FILE RESPONSE_FILE
 *
 * The request/response format is described in request.py. `kernel` is the translated function
 * (AAPCS64, one pointer argument: the address of the buffer named by each call). Each buffer is
 * mmapped with a PROT_NONE guard page after it; a guard_end buffer ends right at that page.
 * A fault prints the signal, pc (also as an offset from `kernel`) and fault address, and exits
 * with 128 + signal. Exit 3: the SVE vector length could not be set to 512 bits. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SVE_SET_VL
#define PR_SVE_SET_VL 50
#endif
#define PAGE 4096ull

extern uint64_t kernel(void *arg);

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    uint64_t pc = uc->uc_mcontext.pc;
    char m[256];
    int n = snprintf(m, sizeof m, "x2sve-e2e: signal %d at pc %#llx (kernel+%#llx), fault address %#llx\n",
                     sig, (unsigned long long)pc, (unsigned long long)(pc - (uint64_t)(uintptr_t)kernel),
                     (unsigned long long)(uintptr_t)si->si_addr);
    if (n > 0) { ssize_t w = write(2, m, (size_t)n); (void)w; }
    _exit(128 + sig);
}

static void die(const char *what) {
    fprintf(stderr, "x2sve-e2e: %s (errno %d)\n", what, errno);
    exit(2);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open the request");
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (n == cap) { cap *= 2; p = realloc(p, cap); if (!p) die("out of memory"); }
        size_t r = fread(p + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s REQUEST RESPONSE\n", argv[0]); return 2; }
    static char altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);

    if (prctl(PR_SVE_SET_VL, 64) < 0) { fprintf(stderr, "x2sve-e2e: cannot set VL to 512 bits\n"); return 3; }
    uint64_t vlb;
    __asm__ volatile(".inst 0x04bf5020\n mov %0, x0" : "=r"(vlb) : : "x0");  /* rdvl x0, #1 */
    if (vlb != 64) { fprintf(stderr, "x2sve-e2e: VL is %llu bytes, want 64\n", (unsigned long long)vlb); return 3; }

    size_t len;
    uint8_t *q = slurp(argv[1], &len), *end = q + len;
    if (len < 16 || memcmp(q, "X2E1", 4)) die("bad request");
    uint32_t nbuf, npatch, ncall;
    memcpy(&nbuf, q + 4, 4); memcpy(&npatch, q + 8, 4); memcpy(&ncall, q + 12, 4);
    q += 16;
    uint8_t **addr = calloc(nbuf + 1, sizeof *addr);
    uint64_t *size = calloc(nbuf + 1, sizeof *size);
    for (uint32_t i = 0; i < nbuf; i++) {
        uint64_t n; uint32_t flags;
        if (q + 16 > end) die("short request");
        memcpy(&n, q, 8); memcpy(&flags, q + 8, 4); q += 16;
        if (q + n > end) die("short request");
        uint64_t span = (n + PAGE - 1) & ~(PAGE - 1);
        if (!span) span = PAGE;
        uint8_t *m = mmap(NULL, span + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) die("mmap");
        if (mprotect(m + span, PAGE, PROT_NONE)) die("mprotect");
        addr[i] = (flags & 1) ? m + span - n : m;
        size[i] = n;
        memcpy(addr[i], q, n);
        q += n;
    }
    for (uint32_t i = 0; i < npatch; i++) {
        uint32_t b, t; uint64_t off, toff;
        if (q + 24 > end) die("short request");
        memcpy(&b, q, 4); memcpy(&t, q + 4, 4); memcpy(&off, q + 8, 8); memcpy(&toff, q + 16, 8);
        q += 24;
        if (b >= nbuf || t >= nbuf || off + 8 > size[b]) die("bad patch");
        uint64_t v = (uint64_t)(uintptr_t)(addr[t] + toff);
        memcpy(addr[b] + off, &v, 8);
    }
    uint64_t *rets = calloc(ncall + 1, 8);
    for (uint32_t i = 0; i < ncall; i++) {
        uint32_t b;
        if (q + 4 > end) die("short request");
        memcpy(&b, q, 4); q += 4;
        if (b >= nbuf) die("bad call");
        rets[i] = kernel(addr[b]);
    }
    FILE *f = fopen(argv[2], "wb");
    if (!f) die("cannot open the response");
    uint32_t h[3] = {0, ncall, 0};
    fwrite("X2R1", 1, 4, f);
    fwrite(h, 4, 3, f);
    fwrite(rets, 8, ncall, f);
    for (uint32_t i = 0; i < nbuf; i++) fwrite(addr[i], 1, size[i], f);
    if (fclose(f)) die("write");
    return 0;
}
"""

_lock = threading.Lock()


def _cache_dir() -> str:
    d = os.path.join(tempfile.gettempdir(), f"x2sve-e2e-{os.getuid()}")
    os.makedirs(d, exist_ok=True)
    return d


def _atomic_build(out: str, cmd: list[str], what: str) -> str:
    if os.path.exists(out):
        return out
    tmp = f"{out}.{os.getpid()}.{threading.get_ident()}.tmp"
    r = subprocess.run(cmd + ["-o", tmp], capture_output=True, text=True)
    if r.returncode != 0:
        raise E2EError(f"{what} failed:\n{r.stderr.strip()[-3000:]}")
    os.replace(tmp, out)
    return out


def build_driver() -> str:
    """The driver's object file (built on first use)."""
    why = qemu_missing()
    if why:
        raise E2EError(why)
    key = hashlib.sha256((DRIVER_C + "\0".join(CFLAGS)).encode()).hexdigest()[:16]
    d = _cache_dir()
    obj = os.path.join(d, f"driver-{key}.o")
    with _lock:
        if os.path.exists(obj):
            return obj
        src = os.path.join(d, f"driver-{key}.c")
        with open(src + ".tmp", "w") as f:
            f.write(DRIVER_C)
        os.replace(src + ".tmp", src)
        return _atomic_build(obj, [CC, *CFLAGS, "-c", src], "compiling the e2e driver")


def build_kernel(asm: str) -> str:
    """Link ``asm`` (must define the global function ``kernel``) with the driver; returns the
    executable (cached by the assembly's hash)."""
    obj = build_driver()
    key = hashlib.sha256(asm.encode() + obj.encode()).hexdigest()[:20]
    d = _cache_dir()
    exe = os.path.join(d, f"kernel-{key}")
    if os.path.exists(exe):
        return exe
    s = os.path.join(d, f"kernel-{key}.s")
    with open(s + f".{os.getpid()}", "w") as f:
        f.write(asm)
    os.replace(s + f".{os.getpid()}", s)
    return _atomic_build(exe, [CC, "-static", "-march=armv8.2-a+sve", obj, s], "assembling/linking the kernel")


def run_qemu(asm: str, req: Request, timeout: float = 60.0, exec_log: Optional[str] = None) -> Result:
    """Run the translated kernel (GNU-as text with symbol ``kernel``) on ``req`` under qemu-user
    with 512-bit SVE. Raises E2EError on a build failure, a crash or a timeout. ``exec_log``: a
    file where qemu logs the address of every instruction executed (one per line,
    ``-singlestep -d exec,nochain``; benchmarks/dynamic.py)."""
    exe = build_kernel(asm)
    trace = ["-singlestep", "-d", "exec,nochain", "-D", exec_log] if exec_log else []
    with tempfile.TemporaryDirectory(prefix="x2sve-e2e-run-") as d:
        rq, rs = os.path.join(d, "req"), os.path.join(d, "rsp")
        with open(rq, "wb") as f:
            f.write(req.encode())
        try:
            p = subprocess.run([QEMU, "-cpu", "max,sve512=on", *trace, exe, rq, rs], capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise E2EError(f"the translated kernel did not return within {timeout} s (qemu)") from None
        if p.returncode != 0:
            raise E2EError(f"the translated kernel failed under qemu (exit {p.returncode}): "
                           f"{p.stderr.decode(errors='replace').strip()[-1500:]}")
        with open(rs, "rb") as f:
            return req.decode_response(f.read())


def run_native(code: bytes, base: int, req: Request, timeout: float = 60.0, tries: int = 3,
               features: tuple = _AVX512) -> Result:
    """Run the x86 kernel bytes, mapped at ``base``, natively on ``req`` (in a worker process);
    ``features``: the CPU flags the kernel needs."""
    why = native_missing(features)
    if why:
        raise E2EError(why)
    with tempfile.NamedTemporaryFile(prefix="x2sve-e2e-code-", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        for _ in range(tries):
            try:
                p = subprocess.run([sys.executable, _WORKER, path, f"{base:x}"], input=req.encode(),
                                   capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise E2EError(f"the native kernel did not return within {timeout} s") from None
            if p.returncode == 3:          # the load address was taken in that process: retry
                continue
            if p.returncode != 0:
                sig = -p.returncode if p.returncode < 0 else None
                raise E2EError(f"the native kernel failed ({'signal ' + str(sig) if sig else 'exit ' + str(p.returncode)}): "
                               f"{p.stderr.decode(errors='replace').strip()[-1500:]}")
            return req.decode_response(p.stdout)
        raise E2EError(f"could not map the kernel at {base:#x}: {p.stderr.decode(errors='replace').strip()}")
    finally:
        os.unlink(path)
