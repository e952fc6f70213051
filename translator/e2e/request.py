"""One kernel call, described as buffers + pointer patches (the format both runners read).

A :class:`Request` holds memory buffers (initial bytes), pointer patches (write the address of
``buffer[t] + toff`` as a little-endian u64 at ``buffer[b] + off``), and the calls to make:
``kernel(address of buffer[i])`` for each ``i`` in ``calls``, in order. A buffer with
``guard_end`` is placed so that its last byte is the last byte before an inaccessible page (an
access past its end faults); every buffer has such a guard page after its mapping.

Wire format (little endian), shared by the C driver (qemu side) and the native worker:

    request:  "X2E1" u32 nbuf, u32 npatch, u32 ncall
              nbuf  x { u64 size, u32 flags (bit0 = guard_end), u32 0, size bytes }
              npatch x { u32 buf, u32 target, u64 off, u64 target_off }
              ncall x { u32 buf }
    response: "X2R1" u32 status (0 ok), u32 ncall, u32 0
              ncall x u64 (rax / x0 after each call)
              nbuf x bytes (each buffer's final contents, sizes as in the request)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

REQ_MAGIC = b"X2E1"
RSP_MAGIC = b"X2R1"
GUARD_END = 1


@dataclass
class Buffer:
    name: str
    data: bytes
    guard_end: bool = False


@dataclass
class Request:
    buffers: list[Buffer] = field(default_factory=list)
    patches: list[tuple[int, int, int, int]] = field(default_factory=list)   # (buf, off, target, toff)
    calls: list[int] = field(default_factory=list)

    # building -------------------------------------------------------------------------------
    def add(self, name: str, data: Union[bytes, bytearray, np.ndarray, int], guard_end: bool = False) -> int:
        """Add a buffer (bytes, a numpy array, or a size in bytes for zeros); returns its index."""
        if isinstance(data, np.ndarray):
            data = np.ascontiguousarray(data).tobytes()
        elif isinstance(data, int):
            data = bytes(data)
        if any(b.name == name for b in self.buffers):
            raise ValueError(f"buffer {name!r} added twice")
        self.buffers.append(Buffer(name, bytes(data), guard_end))
        return len(self.buffers) - 1

    def index(self, name: str) -> int:
        for i, b in enumerate(self.buffers):
            if b.name == name:
                return i
        raise KeyError(name)

    def pointer(self, where: str, off: int, target: str, target_off: int = 0) -> None:
        """At ``where + off`` store the address of ``target + target_off``."""
        b, t = self.index(where), self.index(target)
        if off < 0 or off + 8 > len(self.buffers[b].data):
            raise ValueError(f"pointer slot {where}+{off:#x} is outside the buffer")
        self.patches.append((b, off, t, target_off))

    def call(self, name: str) -> None:
        self.calls.append(self.index(name))

    # wire -----------------------------------------------------------------------------------
    def encode(self) -> bytes:
        if not self.calls:
            raise ValueError("a request needs at least one call")
        out = [REQ_MAGIC, struct.pack("<III", len(self.buffers), len(self.patches), len(self.calls))]
        for b in self.buffers:
            out.append(struct.pack("<QII", len(b.data), GUARD_END if b.guard_end else 0, 0))
            out.append(b.data)
        for b, off, t, toff in self.patches:
            out.append(struct.pack("<IIQQ", b, t, off, toff))
        out.append(struct.pack(f"<{len(self.calls)}I", *self.calls))
        return b"".join(out)

    def decode_response(self, data: bytes) -> "Result":
        if len(data) < 16 or data[:4] != RSP_MAGIC:
            raise ValueError("bad response (magic)")
        status, ncall, _ = struct.unpack_from("<III", data, 4)
        o = 16
        rets = list(struct.unpack_from(f"<{ncall}Q", data, o))
        o += 8 * ncall
        bufs = {}
        for b in self.buffers:
            n = len(b.data)
            if o + n > len(data):
                raise ValueError("bad response (short)")
            bufs[b.name] = data[o:o + n]
            o += n
        return Result(status, rets, bufs)


@dataclass
class Result:
    status: int
    returns: list[int]
    buffers: dict[str, bytes]

    def array(self, name: str, dtype=np.float32, shape: Optional[Sequence[int]] = None) -> np.ndarray:
        a = np.frombuffer(self.buffers[name], dtype=dtype).copy()
        return a.reshape(shape) if shape is not None else a


def decode_request(data: bytes):
    """Parse a request (the native worker uses this). Returns (buffers, patches, calls)."""
    if data[:4] != REQ_MAGIC:
        raise ValueError("bad request (magic)")
    nbuf, npatch, ncall = struct.unpack_from("<III", data, 4)
    o = 16
    bufs = []
    for _ in range(nbuf):
        size, flags, _ = struct.unpack_from("<QII", data, o)
        o += 16
        bufs.append((data[o:o + size], bool(flags & GUARD_END)))
        o += size
    patches = []
    for _ in range(npatch):
        b, t, off, toff = struct.unpack_from("<IIQQ", data, o)
        o += 24
        patches.append((b, off, t, toff))
    calls = list(struct.unpack_from(f"<{ncall}I", data, o))
    return bufs, patches, calls
