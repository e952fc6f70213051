"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def native_runner():
    """A native x86 executor (worker process) for the model-vs-CPU checks."""
    from translator.oracles import native as _native
    r = _native.NativeRunner()
    yield r
    r.close()
