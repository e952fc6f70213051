"""The x86 reference model that ``x2sve verify`` compares translated SVE against.

Implementation lives in :mod:`translator.verify.x86model`; this module is the stable import path.
"""
from .x86model import (HANDLERS, Unmodelled, X86Fault, execute, execute_ex, modelled,  # noqa: F401
                       undefined_flags)
