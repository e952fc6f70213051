"""Real x86 executors used to check the numpy reference model.

* :mod:`.native` -- ``NativeRunner`` runs cases on this CPU (ymm0-15; zmm0-31/k0-7 when the host has AVX-512).
* :mod:`.bochs`  -- ``BochsRunner`` runs cases bare-metal in bochs 2.7 (full AVX-512 state); see BOCHS.md.
Both return ``X86State`` or :class:`.common.ExceptionResult` per case.
"""
from .common import ExceptionResult

__all__ = ["ExceptionResult"]
