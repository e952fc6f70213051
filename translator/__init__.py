"""x2sve: translate x86-64 (AVX-512/AVX2/legacy) JIT code into A64 + SVE."""
__version__ = "0.1.0"

from .translate import BadInput, TranslateError, Translation, UnsupportedError, translate  # noqa: E402

__all__ = ["translate", "Translation", "TranslateError", "BadInput", "UnsupportedError"]
