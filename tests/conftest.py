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


def verify_forms(only: str, states: int, *, count=None, seed: int = 5, vl: int = 512) -> list:
    """Run ``x2sve verify``'s harness on the forms matching ``only``; returns the bad ones as
    (form, mismatches, skipped, first failure). ``count``: how many forms must match (or the
    minimum, given as a (min,) tuple). The tests assert that the list is empty."""
    from translator.verify.forms import enumerate_forms
    from translator.verify.harness import Harness
    forms = enumerate_forms(seed=seed, only=only)
    if isinstance(count, tuple):
        assert len(forms) >= count[0], sorted(forms)
    elif count is not None:
        assert len(forms) == count, sorted(forms)
    h = Harness(vl=vl, states=states, max_failures=2)
    bad = []
    for f in forms.values():
        r = h.run_form(f, states)
        if r.mismatches or r.skipped or not r.states:
            bad.append((f.name, r.mismatches, r.skipped, r.failures[:1]))
    return bad


def exact_forms(names) -> str:
    """An ``--only`` regex matching exactly these form names."""
    import re
    return "^(" + "|".join(re.escape(f) for f in names) + ")$"


def _arm_available() -> bool:
    """unicorn with SVE runs here (the A64 side of the run-against-the-model tests)."""
    try:
        from translator.verify.arm_exec import ArmRunner
        ArmRunner(512)
        return True
    except Exception:                   # pragma: no cover - unicorn missing
        return False


HAVE_ARM = _arm_available()
needs_arm = pytest.mark.skipif(not HAVE_ARM, reason="unicorn with SVE is not available")
