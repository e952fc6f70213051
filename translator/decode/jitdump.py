"""Reader for Linux perf jitdump files (tools/perf/Documentation/jitdump-specification.txt).

``read_jitdump(path_or_bytes) -> list[Kernel]`` returns one ``Kernel(name, address, code)`` per
JIT_CODE_LOAD record, in file order (``address`` is the record's ``code_addr``, where the code
ran; ``vma`` is kept too). Other record kinds are skipped by their ``total_size``.
A bad or truncated file raises :class:`JitdumpError` (a ``ValueError``) naming the offset.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Union

__all__ = ["Kernel", "JitdumpError", "read_jitdump", "is_jitdump", "JIT_CODE_LOAD"]

MAGIC = 0x4A695444
JIT_CODE_LOAD = 0
JIT_CODE_CLOSE = 3
_HEADER_MIN = 40          # magic, version, total_size, elf_mach, pad1, pid, timestamp, flags
_REC_HDR = 16             # id, total_size, timestamp
_LOAD_FIXED = 40          # pid, tid, vma, code_addr, code_size, code_index


class JitdumpError(ValueError):
    def __init__(self, offset: int, message: str):
        self.offset = offset
        self.message = message
        super().__init__(f"jitdump offset {offset:#x}: {message}")


@dataclass(frozen=True)
class Kernel:
    name: str
    address: int
    code: bytes
    vma: int = 0
    code_index: int = 0
    pid: int = 0
    tid: int = 0

    def __repr__(self) -> str:
        return f"Kernel({self.name!r}, {self.address:#x}, <{len(self.code)} bytes>)"


def _endian(data: bytes) -> str | None:
    if len(data) < 4:
        return None
    if struct.unpack_from("<I", data, 0)[0] == MAGIC:
        return "<"
    if struct.unpack_from(">I", data, 0)[0] == MAGIC:
        return ">"
    return None


def is_jitdump(data: Union[bytes, bytearray, memoryview]) -> bool:
    """True when ``data`` starts with the jitdump magic in either byte order."""
    return _endian(bytes(data[:4])) is not None


def read_jitdump(src: Union[str, os.PathLike, bytes, bytearray, memoryview]) -> list[Kernel]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        with open(src, "rb") as fh:
            data = fh.read()
    e = _endian(data)
    if e is None:
        raise JitdumpError(0, "not a jitdump file (bad magic)")
    if len(data) < _HEADER_MIN:
        raise JitdumpError(len(data), "truncated file header")
    _magic, _version, hdr_size = struct.unpack_from(e + "III", data, 0)
    if hdr_size < _HEADER_MIN or hdr_size > len(data):
        raise JitdumpError(8, f"bad header size {hdr_size}")
    out: list[Kernel] = []
    off = hdr_size
    n = len(data)
    while off < n:
        if off + _REC_HDR > n:
            raise JitdumpError(off, "truncated record header")
        rid, size, _ts = struct.unpack_from(e + "IIQ", data, off)
        if size < _REC_HDR:
            raise JitdumpError(off, f"bad record size {size}")
        if off + size > n:
            raise JitdumpError(off, f"truncated record (id {rid}, size {size}, {n - off} bytes left)")
        if rid == JIT_CODE_LOAD:
            body = off + _REC_HDR
            if size < _REC_HDR + _LOAD_FIXED + 1:
                raise JitdumpError(off, f"JIT_CODE_LOAD record too small ({size})")
            pid, tid, vma, code_addr, code_size, code_index = struct.unpack_from(e + "IIQQQQ", data, body)
            name_at = body + _LOAD_FIXED
            nul = data.find(b"\0", name_at, off + size)
            if nul < 0:
                raise JitdumpError(name_at, "JIT_CODE_LOAD name is not NUL-terminated")
            code_at = nul + 1
            if code_at + code_size > off + size:
                raise JitdumpError(off, f"JIT_CODE_LOAD code ({code_size} bytes) exceeds the record")
            name = data[name_at:nul].decode("utf-8", "replace")
            out.append(Kernel(name, code_addr, data[code_at:code_at + code_size], vma,
                              code_index, pid, tid))
        off += size
    return out
