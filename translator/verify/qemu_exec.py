"""Run A64/SVE/SVE2 snippets in batches under ``qemu-aarch64-static``.

Unicorn (arm_exec.ArmRunner) has SVE but no SVE2; this runner covers SVE2 and is a second,
independent emulator to cross-check with.  It uses the same trampoline and the same address map as
``arm_exec`` (the trampoline image is sent to the host program, so there is one source of truth):

* A small static aarch64 C program (the *host*) is compiled once with ``aarch64-linux-gnu-gcc``
  and cached under the temp dir, keyed by a hash of its source and flags.  It is linked high
  (0x60000000) to keep CODE_BASE, the data window, SCRATCH_BASE and STATE_BASE free.
* One host process per ``QemuRunner`` stays alive.  A request holds the trampoline, a table of
  snippets and the cases; the host reads all of it before it answers, so pipes cannot deadlock.
* Each case: copy the snippet (only when it changed), the state buffer and the window, then call
  the trampoline; its stop address jumps back into the host.  SIGSEGV/SIGBUS/SIGILL/SIGTRAP/SIGFPE
  are caught (on an alternate stack) and reported with pc and fault address; a case that runs past
  ``timeout_s`` is stopped by an interval timer.

Differences from unicorn: the code region is readable (literal pools work on both) but not
writable; there is no instruction-count limit, only the time limit.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from typing import Sequence, Union

from . import arm_exec as ax
from .arm_exec import ArmExecError, ArmExecUnavailable
from .state import MEM_SIZE, ArmState

__all__ = ["QemuRunner", "ArmExecError", "ArmExecUnavailable", "qemu_available"]

QEMU = "qemu-aarch64-static"
CC = "aarch64-linux-gnu-gcc"
HOST_LINK_BASE = 0x60000000

_MAGIC = 0x51533258  # "X2SQ"
_ST_OK, _ST_SIGNAL, _ST_TIMEOUT, _ST_SETUP = 0, 1, 2, 3
_SIGNAMES = {4: "SIGILL", 5: "SIGTRAP", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}

_HOST_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SVE_SET_VL
#define PR_SVE_SET_VL 50
#endif

/* set by -D: CODE_BASE CODE_SIZE SNIPPET_ADDR STOP_ADDR STATE_BASE STATE_SIZE SCRATCH_BASE
   SCRATCH_SIZE MEM_SIZE MAGIC */

extern void x2_enter(void);
extern void x2_resume(void);
uint64_t x2_saved_sp, x2_saved_fpcr;

/* x2_enter: save what AAPCS64 says we must keep, then jump to the trampoline at CODE_BASE.
   The trampoline ends at STOP_ADDR, which the host patched to jump to x2_resume. */
__asm__(
    ".text\n.global x2_enter\n.type x2_enter,%function\nx2_enter:\n"
    "  stp x29, x30, [sp, #-160]!\n"
    "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mov x9, sp\n  adrp x10, x2_saved_sp\n  str x9, [x10, :lo12:x2_saved_sp]\n"
    "  mrs x9, fpcr\n  adrp x10, x2_saved_fpcr\n  str x9, [x10, :lo12:x2_saved_fpcr]\n"
    "  ldr x16, =" CODE_BASE_STR "\n  br x16\n"
    ".ltorg\n"
    ".global x2_resume\n.type x2_resume,%function\nx2_resume:\n"
    "  adrp x10, x2_saved_sp\n  ldr x9, [x10, :lo12:x2_saved_sp]\n  mov sp, x9\n"
    "  adrp x10, x2_saved_fpcr\n  ldr x9, [x10, :lo12:x2_saved_fpcr]\n  msr fpcr, x9\n"
    "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  ldp x29, x30, [sp], #160\n  ret\n");

static sigjmp_buf jb;
static volatile sig_atomic_t in_snippet, cur_case, seen_case = -1;
static volatile int f_sig;
static volatile uint64_t f_pc, f_addr;

static void on_fault(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    if (!in_snippet) { signal(sig, SIG_DFL); raise(sig); return; }
    in_snippet = 0;
    f_sig = sig; f_pc = uc->uc_mcontext.pc; f_addr = (uint64_t)si->si_addr;
    siglongjmp(jb, 1);
}

static void on_alarm(int sig, siginfo_t *si, void *ctx) {
    (void)sig; (void)si;
    if (!in_snippet) { seen_case = -1; return; }
    if (seen_case != cur_case) { seen_case = cur_case; return; }
    in_snippet = 0;
    f_sig = 0; f_pc = ((ucontext_t *)ctx)->uc_mcontext.pc; f_addr = 0;
    siglongjmp(jb, 2);
}

static void die(const char *m) { fprintf(stderr, "x2sve qemu host: %s (errno %d)\n", m, errno); exit(2); }

static int read_full(void *p, size_t n) {
    char *c = p;
    while (n) { ssize_t r = read(0, c, n); if (r <= 0) return r == 0 ? 0 : -1; c += r; n -= (size_t)r; }
    return 1;
}
static void write_full(const void *p, size_t n) {
    const char *c = p;
    while (n) { ssize_t r = write(1, c, n); if (r <= 0) die("write"); c += r; n -= (size_t)r; }
}

static void *map_at(uint64_t addr, uint64_t size, int prot) {
    void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != (void *)addr) return NULL;
    return p;
}

int main(void) {
    static char altstack[1 << 16];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    if (sigaltstack(&ss, NULL)) die("sigaltstack");
    struct sigaction sa; memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault; sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) if (sigaction(sigs[i], &sa, NULL)) die("sigaction");
    sa.sa_sigaction = on_alarm;
    if (sigaction(SIGALRM, &sa, NULL)) die("sigaction");

    if (!map_at(CODE_BASE, CODE_SIZE, PROT_READ | PROT_EXEC)) die("mmap code");
    if (!map_at(STATE_BASE, STATE_SIZE, PROT_READ | PROT_WRITE)) die("mmap state");
    if (!map_at(SCRATCH_BASE, SCRATCH_SIZE, PROT_READ | PROT_WRITE)) die("mmap scratch");
    uint64_t win_start = 0, win_size = 0, win_base = ~0ull;
    uint32_t cur_vlb = 0, cur_timeout = 0;
    int64_t cur_code = -1;
    uint8_t *tramp_sent = NULL;

    for (;;) {
        uint32_t h[6];
        int r = read_full(h, sizeof h);
        if (r == 0) return 0;
        if (r < 0 || h[0] != MAGIC) die("bad request header");
        uint32_t vlb = h[1], ncodes = h[2], ncases = h[3], timeout_ms = h[4], tlen = h[5];
        uint64_t body_len;
        if (read_full(&body_len, 8) != 1) die("bad request");
        uint8_t *body = malloc(body_len ? body_len : 1);
        if (!body || read_full(body, body_len) != 1) die("short request");
        uint8_t *q = body;
        uint8_t *tramp = q; q += tlen;
        uint8_t **codes = malloc(sizeof(uint8_t *) * (ncodes + 1));
        uint32_t *clen = malloc(sizeof(uint32_t) * (ncodes + 1));
        for (uint32_t i = 0; i < ncodes; i++) { memcpy(&clen[i], q, 4); q += 4; codes[i] = q; q += clen[i]; }
        uint64_t ssize = 32ull * vlb + 2ull * vlb + 33 * 8;  /* z, p (16 * vlb/8), x block */

        if (vlb != cur_vlb) {
            long got = prctl(PR_SVE_SET_VL, vlb);
            uint64_t rd;
            __asm__ volatile(".inst 0x04bf5020\n mov %0, x0" : "=r"(rd) : : "x0");  /* rdvl x0, #1 */
            if (got < 0 || rd != vlb) { fprintf(stderr, "x2sve qemu host: cannot set VL to %u bytes (got %lu)\n", vlb, (unsigned long)rd); exit(3); }
            cur_vlb = vlb;
        }
        if (timeout_ms != cur_timeout) {
            struct itimerval it = {{timeout_ms / 1000, (timeout_ms % 1000) * 1000}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
            setitimer(ITIMER_REAL, &it, NULL);
            cur_timeout = timeout_ms;
        }
        if (!tramp_sent || memcmp(tramp_sent, tramp, tlen)) {
            if (mprotect((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE)) die("mprotect");
            memcpy((void *)CODE_BASE, tramp, tlen);
            uint32_t *stop = (uint32_t *)STOP_ADDR;
            stop[0] = 0x58000050;  /* ldr x16, #8 */
            stop[1] = 0xd61f0200;  /* br x16 */
            uint64_t ra = (uint64_t)x2_resume; memcpy(&stop[2], &ra, 8);
            __builtin___clear_cache((char *)CODE_BASE, (char *)CODE_BASE + tlen);
            if (mprotect((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_EXEC)) die("mprotect");
            free(tramp_sent); tramp_sent = malloc(tlen); memcpy(tramp_sent, tramp, tlen);
            cur_code = -1;
        }
        const uint8_t *last_code = NULL;
        size_t out_rec = 24 + ssize + MEM_SIZE;
        uint8_t *out = malloc(out_rec * (ncases ? ncases : 1));
        for (uint32_t c = 0; c < ncases; c++) {
            uint32_t ci; memcpy(&ci, q, 4);
            uint64_t mem_base; memcpy(&mem_base, q + 8, 8);
            uint8_t *st = q + 16, *mem = st + ssize;
            q = mem + MEM_SIZE;
            uint8_t *o = out + out_rec * c;
            uint32_t status = 0, sig = 0; uint64_t pc = 0, addr = 0;
            if (ci >= ncodes) { status = 3; goto done; }
            if (codes[ci] != last_code || cur_code < 0) {
                if (mprotect((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE)) die("mprotect");
                memcpy((void *)SNIPPET_ADDR, codes[ci], clen[ci]);
                __builtin___clear_cache((char *)SNIPPET_ADDR, (char *)SNIPPET_ADDR + clen[ci]);
                if (mprotect((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_EXEC)) die("mprotect");
                last_code = codes[ci]; cur_code = ci;
            }
            if (mem_base != win_base) {
                uint64_t s = mem_base & ~0xfffull, e = (mem_base + MEM_SIZE + 0xfff) & ~0xfffull;
                if (win_size) munmap((void *)win_start, win_size);
                win_size = 0; win_base = ~0ull;
                if (!map_at(s, e - s, PROT_READ | PROT_WRITE)) { status = 3; addr = mem_base; goto done; }
                win_start = s; win_size = e - s; win_base = mem_base;
            }
            memcpy((void *)mem_base, mem, MEM_SIZE);
            memcpy((void *)STATE_BASE, st, ssize);
            cur_case = (sig_atomic_t)c;
            int j = sigsetjmp(jb, 0);  /* SA_NODEFER: no mask to restore */
            if (j == 0) {
                in_snippet = 1;
                x2_enter();
                in_snippet = 0;
            } else {
                __asm__ volatile("msr fpcr, %0" : : "r"(x2_saved_fpcr));
                status = j == 1 ? 1 : 2; sig = (uint32_t)f_sig; pc = f_pc; addr = f_addr;
            }
            memcpy(o + 24, (void *)STATE_BASE, ssize);
            memcpy(o + 24 + ssize, (void *)mem_base, MEM_SIZE);
        done:
            memcpy(o, &status, 4); memcpy(o + 4, &sig, 4); memcpy(o + 8, &pc, 8); memcpy(o + 16, &addr, 8);
        }
        write_full(out, out_rec * ncases);
        free(out); free(codes); free(clen); free(body);
    }
}
"""


def qemu_available() -> str | None:
    """None if the qemu runner can work here, else the reason it cannot."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (apt-get install qemu-user-static)"
    if shutil.which(CC) is None:
        return f"{CC} is not installed (apt-get install gcc-aarch64-linux-gnu)"
    return None


_build_lock = threading.Lock()


def _defines() -> list[str]:
    vals = {"CODE_BASE": ax.CODE_BASE, "CODE_SIZE": ax.CODE_SIZE, "SNIPPET_ADDR": ax.SNIPPET_ADDR,
            "STOP_ADDR": ax.STOP_ADDR, "STATE_BASE": ax.STATE_BASE, "STATE_SIZE": ax.STATE_SIZE,
            "SCRATCH_BASE": ax.SCRATCH_BASE, "SCRATCH_SIZE": ax.SCRATCH_SIZE,
            "MEM_SIZE": MEM_SIZE, "MAGIC": _MAGIC}
    ds = [f"-D{k}={v:#x}ull" if k != "MAGIC" else f"-D{k}={v:#x}u" for k, v in vals.items()]
    ds.append(f'-DCODE_BASE_STR="{ax.CODE_BASE:#x}"')
    return ds


def host_binary() -> str:
    """Path of the compiled host program, building it on first use."""
    why = qemu_available()
    if why:
        raise ArmExecUnavailable(why)
    flags = ["-O2", "-static", "-no-pie", f"-Wl,-Ttext-segment={HOST_LINK_BASE:#x}"] + _defines()
    key = hashlib.sha256((_HOST_C + "\0".join(flags)).encode()).hexdigest()[:16]
    d = os.path.join(tempfile.gettempdir(), f"x2sve-qemu-host-{key}")
    exe = os.path.join(d, "host")
    if os.path.exists(exe):
        return exe
    with _build_lock:
        if os.path.exists(exe):
            return exe
        os.makedirs(d, exist_ok=True)
        src = os.path.join(d, f"host-{os.getpid()}.c")
        tmp = os.path.join(d, f"host-{os.getpid()}.tmp")
        with open(src, "w") as f:
            f.write(_HOST_C)
        r = subprocess.run([CC, *flags, "-o", tmp, src], capture_output=True, text=True)
        if r.returncode != 0:
            raise ArmExecUnavailable(f"could not build the qemu host program with {CC}:\n"
                                     f"{r.stderr.strip()[-2000:]}")
        os.replace(tmp, exe)
        return exe


CodeArg = Union[bytes, bytearray, Sequence[bytes]]


class QemuRunner:
    """Batch runner on qemu-aarch64 (SVE and SVE2) at vector length ``vl`` bits."""

    snippet_address = ax.SNIPPET_ADDR
    CODE_BASE = ax.CODE_BASE
    SCRATCH_BASE = ax.SCRATCH_BASE
    SCRATCH_SIZE = ax.SCRATCH_SIZE

    def __init__(self, vl: int = 512, timeout_s: float = 1.0):
        if vl not in ax.VALID_VLS:
            raise ValueError(f"vector length must be a multiple of 128 in 128..2048 bits, got {vl}")
        self.vl = vl
        self.timeout_s = timeout_s
        self._exe = host_binary()
        self._proc: subprocess.Popen | None = None
        self._tramp = ax.trampoline_image()

    # process ------------------------------------------------------------------------------
    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            cmd = [QEMU, "-cpu", f"max,sve-default-vector-length={self.vl // 8}", self._exe]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0)
        return self._proc

    def close(self) -> None:
        p, self._proc = self._proc, None
        if p is not None and p.poll() is None:
            try:
                p.stdin.close()
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
                p.wait()

    def __enter__(self) -> "QemuRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # running ------------------------------------------------------------------------------
    def run(self, code: bytes, state: ArmState) -> ArmState:
        return self.run_many(code, [state])[0]

    def run_many(self, code_or_codes: CodeArg, states: Sequence[ArmState],
                 errors: str = "raise", batch: int = 4096) -> list:
        """Run one snippet (bytes) or one snippet per state (a list) from each state.

        ``errors="raise"`` raises the first case's ``ArmExecError`` (after the whole batch ran);
        ``errors="return"`` puts the exception object in the list in place of that state."""
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        n = len(states)
        if isinstance(code_or_codes, (bytes, bytearray, memoryview)):
            codes = [bytes(code_or_codes)]
            idx = [0] * n
        else:
            raw = [bytes(c) for c in code_or_codes]
            if len(raw) != n:
                raise ValueError(f"got {len(raw)} code snippets for {n} states")
            table: dict[bytes, int] = {}
            idx = [table.setdefault(c, len(table)) for c in raw]
            codes = list(table)
        for st in states:
            if st.vl != self.vl:
                raise ValueError(f"state has VL={st.vl} but this QemuRunner runs VL={self.vl}")
        images = [ax.snippet_image(c) for c in codes]
        # Group the cases by snippet: every snippet switch costs qemu a code-page invalidation.
        order = sorted(range(n), key=idx.__getitem__) if len(codes) > 1 else range(n)
        out: list = [None] * n
        for lo in range(0, n, batch):
            part = order[lo:lo + batch]
            res = self._batch(codes, images, [idx[i] for i in part], [states[i] for i in part])
            for i, r in zip(part, res):
                out[i] = r
        if errors == "raise":
            for r in out:
                if isinstance(r, ArmExecError):
                    raise r
        return out

    def _batch(self, codes, images, idx, states) -> list:
        vl = self.vl
        ssize = ax.state_size(vl)
        # only send the snippets this batch uses
        used = sorted(set(idx))
        remap = {c: i for i, c in enumerate(used)}
        parts = [self._tramp]
        for c in used:
            parts.append(struct.pack("<I", len(images[c])))
            parts.append(images[c])
        for ci, st in zip(idx, states):
            ax.check_window(st.mem_base)
            if len(st.mem) != MEM_SIZE:
                raise ValueError(f"ArmState.mem must be {MEM_SIZE} bytes, got {len(st.mem)}")
            parts.append(struct.pack("<IIQ", remap[ci], 0, st.mem_base))
            parts.append(ax.state_buffer(st, vl))
            parts.append(bytes(st.mem))
        body = b"".join(parts)
        timeout_ms = max(1, int(self.timeout_s * 1000))
        head = struct.pack("<6IQ", _MAGIC, vl // 8, len(used), len(states), timeout_ms,
                           len(self._tramp), len(body))
        p = self._start()
        rec = 24 + ssize + MEM_SIZE
        want = rec * len(states)
        try:
            p.stdin.write(head + body)
            p.stdin.flush()
            data = _read_exact(p.stdout, want)
        except (BrokenPipeError, OSError):
            data = b""
        if len(data) != want:
            err = b""
            try:
                p.kill()
                err = p.stderr.read() or b""
            except OSError:
                pass
            self._proc = None
            raise ArmExecError(f"qemu host process failed (exit {p.poll()}): "
                               f"{err.decode(errors='replace').strip()[-1000:]}")
        out = []
        for k, (ci, st) in enumerate(zip(idx, states)):
            o = k * rec
            status, sig, pc, addr = struct.unpack_from("<IIQQ", data, o)
            if status == _ST_OK:
                buf = data[o + 24:o + 24 + ssize]
                mem = data[o + 24 + ssize:o + rec]
                out.append(ax.parse_state_buffer(buf, vl, st.mem_base, mem))
            else:
                out.append(self._error(status, sig, pc, addr, len(codes[ci]), st))
        return out

    def _error(self, status, sig, pc, addr, code_len, st) -> ArmExecError:
        off = pc - ax.SNIPPET_ADDR
        if 0 <= off <= code_len:
            where = f"at snippet offset {off:#x} (pc {pc:#x})"
        else:
            where = (f"in the load/store trampoline (pc {pc:#x})"
                     if ax.CODE_BASE <= pc < ax.SNIPPET_ADDR else f"at pc {pc:#x}")
            off = None
        if status == _ST_TIMEOUT:
            return ArmExecError(f"did not finish within about {self.timeout_s} s; stopped {where}",
                                off, None)
        if status == _ST_SETUP:
            return ArmExecError(f"could not map the data window at {st.mem_base:#x}", None, addr)
        name = _SIGNAMES.get(sig, f"signal {sig}")
        if sig in (7, 11):
            w = st.mem_base
            return ArmExecError(f"{name}: access to address {addr:#x} outside the data window "
                                f"[{w:#x}, {w + MEM_SIZE:#x}) {where}", off, addr)
        what = {4: "undefined instruction", 5: "brk/trap", 8: "arithmetic exception"}.get(sig, "")
        return ArmExecError(f"{name} ({what}) {where}" if what else f"{name} {where}", off, None)


def _read_exact(f, n: int) -> bytes:
    chunks = []
    got = 0
    while got < n:
        b = f.read(min(n - got, 1 << 22))
        if not b:
            break
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)
