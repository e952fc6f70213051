"""Machine states that verify runs both sides on, in the JSON shapes of ../shared/interface.md.

X86State: zmm0-31 (64 bytes each), k0-7, the 16 GPRs (rsp included here; it is dropped in JSON),
RFLAGS, MXCSR and a 4 KiB data window at ``mem_base``.
ArmState: z0-31 and p0-15 at vector length ``vl`` bits, x0-x30, NZCV, FPCR and the same window.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import GPR64

MEM_BASE = 0x200000
MEM_SIZE = 4096


def _hex(b: bytes) -> str:
    return bytes(b).hex()


@dataclass
class X86State:
    zmm: list[bytes] = field(default_factory=lambda: [bytes(64)] * 32)
    k: list[int] = field(default_factory=lambda: [0] * 8)
    gpr: dict[str, int] = field(default_factory=lambda: {r: 0 for r in GPR64})
    rflags: int = 0x202
    mxcsr: int = 0x1F80
    mem_base: int = MEM_BASE
    mem: bytes = bytes(MEM_SIZE)

    def copy(self) -> "X86State":
        return X86State(list(self.zmm), list(self.k), dict(self.gpr), self.rflags, self.mxcsr,
                        self.mem_base, bytes(self.mem))

    def to_json(self) -> dict:
        return {"zmm": [_hex(z) for z in self.zmm], "k": list(self.k),
                "gpr": {r: v for r, v in self.gpr.items() if r != "rsp"},
                "rflags": self.rflags, "mxcsr": self.mxcsr, "mem_base": self.mem_base,
                "mem": _hex(self.mem)}

    @classmethod
    def from_json(cls, d: dict) -> "X86State":
        gpr = {r: 0 for r in GPR64}
        gpr.update(d["gpr"])
        return cls([bytes.fromhex(z) for z in d["zmm"]], list(d["k"]), gpr, d["rflags"],
                   d["mxcsr"], d["mem_base"], bytes.fromhex(d["mem"]))


@dataclass
class ArmState:
    vl: int = 512
    z: list[bytes] = field(default_factory=list)
    p: list[bytes] = field(default_factory=list)
    x: list[int] = field(default_factory=lambda: [0] * 31)
    nzcv: int = 0
    fpcr: int = 0
    mem_base: int = MEM_BASE
    mem: bytes = bytes(MEM_SIZE)

    def __post_init__(self) -> None:
        if not self.z:
            self.z = [bytes(self.vl // 8)] * 32
        if not self.p:
            self.p = [bytes(self.vl // 64)] * 16

    def copy(self) -> "ArmState":
        return ArmState(self.vl, list(self.z), list(self.p), list(self.x), self.nzcv, self.fpcr,
                        self.mem_base, bytes(self.mem))

    def to_json(self) -> dict:
        return {"z": [_hex(z) for z in self.z], "p": [_hex(p) for p in self.p], "x": list(self.x),
                "nzcv": self.nzcv, "fpcr": self.fpcr, "mem_base": self.mem_base, "mem": _hex(self.mem)}

    @classmethod
    def from_json(cls, d: dict, vl: int = 512) -> "ArmState":
        return cls(vl, [bytes.fromhex(z) for z in d["z"]], [bytes.fromhex(p) for p in d["p"]],
                   list(d["x"]), d["nzcv"], d["fpcr"], d["mem_base"], bytes.fromhex(d["mem"]))
