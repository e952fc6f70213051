"""Run x86-64 cases natively on this host's CPU, as a reference executor for the numpy model.

``NativeRunner().run_many(code, states)`` runs ``code`` once per state in a worker subprocess
(``_native_worker.py``): every case loads the vector registers, GPRs (rsp excepted), RFLAGS and
MXCSR from the state, copies the 4 KiB window to ``state.mem_base`` (mapped MAP_FIXED_NOREPLACE
there; 0x200000 is free in CPython processes), runs the code on a private stack and stores the
state back.  Faults are caught in the worker and come back as :class:`ExceptionResult` with the
x86 vector (the kernel's trapno); a hung or crashed worker is replaced and the case reported as
'timeout' / 'crash'.

Register coverage: with ``full`` (AVX-512F/BW present and enabled by the OS) all of zmm0-31 and
k0-7 are loaded and stored; otherwise only ymm0-15 are live and zmm uppers, zmm16-31 and k0-7
pass through unchanged from the input state.  RSP: the case starts on a private stack; the
output rsp is the input rsp moved by the same amount.  RFLAGS: only CF PF AF ZF SF DF OF are
loaded and reported; other bits pass through.
"""
from __future__ import annotations

import os
import select
import signal
import struct
import subprocess
import sys
import time
from itertools import groupby

from ..verify.state import MEM_SIZE, X86State
from ._tramp import AREA_SIZE, exc_info, jmp_back, pack_area, unpack_area
from .common import ExceptionResult, as_codes

_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native_worker.py")


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def available() -> bool:
    """True on x86-64 Linux with AVX2 and FMA."""
    import platform
    fl = cpu_flags()
    return platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma"} <= fl


def has_avx512() -> bool:
    return {"avx512f", "avx512bw"} <= cpu_flags()


class NativeRunner:
    def __init__(self, full: bool | None = None, timeout: float = 5.0):
        """``full``: None = use zmm0-31/k0-7 when the host has AVX-512, False = ymm0-15 only."""
        if not available():
            raise RuntimeError("native x86 runner needs an x86-64 Linux host with AVX2/FMA")
        self.full = has_avx512() if full is None else bool(full)
        if self.full and not has_avx512():
            raise RuntimeError("host has no AVX-512F/BW")
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    # -- worker management -------------------------------------------------------------------
    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, _WORKER, "1" if self.full else "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        line = self._read_line()
        parts = line.split()
        if not parts or parts[0] != b"READY":
            raise RuntimeError(f"native worker failed to start: {line!r}")
        self.slot, self.back, self.stack_top = map(int, parts[1:4])

    def _read_line(self) -> bytes:
        buf = b""
        while not buf.endswith(b"\n"):
            c = self.proc.stdout.read(1)
            if not c:
                break
            buf += c
        return buf

    def close(self) -> None:
        if self.proc:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            c = os.read(fd, n - got)
            if not c:
                return None
            chunks.append(c)
            got += len(c)
        return b"".join(chunks)

    # -- running -----------------------------------------------------------------------------
    def run_many(self, code, states: list[X86State]) -> list[X86State | ExceptionResult]:
        codes = as_codes(code, len(states))
        results: list = []
        idx = 0
        for c, grp in groupby(codes):
            n = len(list(grp))
            results += self._run_same(c, states[idx:idx + n])
            idx += n
        return results

    def run(self, code: bytes, state: X86State) -> X86State | ExceptionResult:
        return self.run_many(code, [state])[0]

    def _run_same(self, code: bytes, states: list[X86State]) -> list:
        out: list = []
        while len(out) < len(states):
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            todo = states[len(out):]
            out += self._batch(code, todo)
        return out

    def _batch(self, code: bytes, states: list[X86State]) -> list:
        body = jmp_back(code, self.slot, self.back)
        req = [struct.pack("<4sIII", b"X2SV", len(states), len(body), 0), body]
        for s in states:
            req += [struct.pack("<Q", s.mem_base), bytes(pack_area(s)), bytes(s.mem).ljust(MEM_SIZE, b"\0")[:MEM_SIZE]]
        try:
            self.proc.stdin.write(b"".join(req))
        except BrokenPipeError:
            pass
        res: list = []
        rec = 4 + AREA_SIZE + MEM_SIZE
        for s in states:
            r = self._read_exact(rec, time.monotonic() + self.timeout)
            if r is None:  # hung or died on this case: replace the worker, report, go on
                timed_out = self.proc.poll() is None
                if timed_out:
                    self.proc.send_signal(signal.SIGKILL)
                rc = self.proc.wait()
                self.proc = None
                res.append(ExceptionResult(None, "timeout" if timed_out else "crash",
                                           signal=-rc if rc and rc < 0 else None))
                return res
            status = struct.unpack_from("<I", r)[0]
            area, mem = r[4:4 + AREA_SIZE], r[4 + AREA_SIZE:]
            if status == 0:
                res.append(unpack_area(area, s, mem, self.full, self.stack_top))
            elif status == 1:
                e = exc_info(area)
                off = e["rip"] - self.slot
                res.append(ExceptionResult.from_vector(
                    e["vector"], error_code=e["error_code"],
                    rip_offset=off if 0 <= off < len(code) else None, addr=e["addr"],
                    signal=e["signal"] & 0xFFFFFFFF))
            else:
                raise RuntimeError(f"cannot map the data window at {s.mem_base:#x} natively")
        return res
