"""Types shared by the x86 oracles."""
from __future__ import annotations

from dataclasses import dataclass

VECTOR_NAMES = {0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
                10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC",
                18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP"}


@dataclass
class ExceptionResult:
    """A case that did not reach its end.

    vector: x86 exception vector (6 = #UD, 13 = #GP, 14 = #PF, 19 = #XM, ...) or None when
    unknown (timeout, executor crash).  name: '#UD', ... or 'timeout' / 'crash'.
    rip_offset: faulting instruction relative to the start of the case code (None if outside).
    addr: fault address (CR2 for #PF on bochs, si_addr natively) when known.
    """
    vector: int | None
    name: str
    error_code: int = 0
    rip_offset: int | None = None
    addr: int | None = None
    signal: int | None = None

    @classmethod
    def from_vector(cls, vector: int, **kw) -> "ExceptionResult":
        return cls(vector, VECTOR_NAMES.get(vector, f"vec{vector}"), **kw)


def as_codes(code, n: int) -> list[bytes]:
    """``code`` is one bytes object for all states or a list with one per state."""
    if isinstance(code, (bytes, bytearray, memoryview)):
        return [bytes(code)] * n
    codes = [bytes(c) for c in code]
    if len(codes) != n:
        raise ValueError(f"{len(codes)} codes for {n} states")
    return codes
