"""x2sve: translate x86-64 (AVX-512/AVX2/legacy) JIT code into A64 + SVE."""
__version__ = "0.1.0"

__all__ = ["translate", "Translation", "TranslateError", "BadInput", "UnsupportedError"]

IMPORT_ERROR = None
try:
    from .translate import BadInput, TranslateError, Translation, UnsupportedError, translate  # noqa: E402
except ImportError as _e:       # a dependency is missing: the CLI reports it as one line
    IMPORT_ERROR = _e
