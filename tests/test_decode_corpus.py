"""Decode stage over the real oneDNN corpus (../shared/corpus beside the clone); skipped without it."""
from __future__ import annotations

from pathlib import Path

import pytest

from translator.decode.flow import infer_base, walk
from translator.decode.jitdump import read_jitdump

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")

FOLDERS = ["onednn-avx512-core", "onednn-avx2"]
DUMPS = {"onednn-avx512-core.jit.dump": ("onednn-avx512-core", 68),
         "onednn-avx2-torch.jit.dump": ("onednn-avx2", 75)}


def _bins(folder):
    return sorted((CORPUS / folder).glob("*.bin")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("folder", FOLDERS)
def test_walk_corpus_folder(folder):
    files = _bins(folder)
    assert files
    total = code = 0
    for f in files:
        data = f.read_bytes()
        p = walk(data)
        assert not p.errors, f"{f.name}: {[str(e) for e in p.errors[:3]]}"
        assert p.insns and p.coverage > 0.10, f.name
        assert not p.external, f.name
        # reached code and data partition the buffer
        assert p.code_bytes + sum(b - a for a, b in p.data) == len(data)
        total += len(data)
        code += p.code_bytes
    # README: about 89-97% of the bytes are code (eltwise kernels are mostly constant tables)
    assert code / total > 0.85, code / total


@pytest.mark.parametrize("dump", sorted(DUMPS))
def test_jitdump_matches_bins_and_walks(dump):
    folder, count = DUMPS[dump]
    ks = read_jitdump(CORPUS / "jitdump" / dump)
    assert len(ks) == count
    bins = {f.read_bytes() for f in _bins(folder)}
    matched = [k for k in ks if k.code in bins]
    assert len(matched) >= 60          # avx2 dump is from a similar, not the same, run
    for k in ks:
        assert k.address % 0x1000 == 0 and k.name
        p = walk(k.code, k.address)
        assert not p.errors, k.name
        # with the true load address every jump table resolves
        assert not p.unresolved, (k.name, [hex(a) for a in p.unresolved])


def test_jitdump_avx512_kernel_names_and_infer_base():
    ks = read_jitdump(CORPUS / "jitdump" / "onednn-avx512-core.jit.dump")
    assert ks[0].name == "jit_brgemm_kernel_t" and ks[0].address == 0x7FFFF4D58000
    for k in ks:
        b = infer_base(k.code)
        assert b is None or b == k.address, k.name
    k = next(k for k in ks if k.name.startswith("jit_brdgmm_kernel_base_t"))
    p = walk(k.code, k.address)
    jt = p.indirect[k.address + 0x247]
    assert jt is not None and jt.kind == "abs64" and len(jt.targets) == 7
