"""Finding the oneDNN corpus: ``$X2SVE_CORPUS``, else ``shared/corpus`` beside the clone (CI),
else inside it. Everything here degrades to "no corpus" instead of failing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
AVX512 = "onednn-avx512-core"
AVX2 = "onednn-avx2"


def corpus_dir() -> Optional[Path]:
    cands = []
    if os.environ.get("X2SVE_CORPUS"):
        cands.append(Path(os.environ["X2SVE_CORPUS"]))
    cands += [ROOT.parent / "shared" / "corpus", ROOT / "shared" / "corpus"]
    for c in cands:
        if (c / AVX512).is_dir() or (c / AVX2).is_dir():
            return c
    return None


def load(name: str, smoke: bool = False) -> list[tuple[str, bytes]]:
    """[(file name, bytes)] of one corpus folder, sorted by name; [] if missing.
    ``smoke``: a fixed, small but varied subset (every 8th kernel)."""
    d = corpus_dir()
    if d is None or not (d / name).is_dir():
        return []
    files = sorted((d / name).glob("*.bin"))
    if smoke:
        files = files[::8]
    return [(f.name, f.read_bytes()) for f in files]
