"""Whole-kernel translation: code/data layout, labels, liveness, and asm == bin (GNU as)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from translator import BadInput, UnsupportedError, translate
from translator.decode.flow import walk
from translator.translate import flag_liveness, vector_liveness

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
GAS = shutil.which("aarch64-linux-gnu-as")
OBJCOPY = shutil.which("aarch64-linux-gnu-objcopy")


def gnu_as(asm: str, tmp: Path) -> bytes:
    src, obj, out = tmp / "k.s", tmp / "k.o", tmp / "k.bin"
    src.write_text(asm)
    subprocess.run([GAS, "-march=armv8.2-a+sve", "-o", str(obj), str(src)], check=True,
                   capture_output=True, text=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", str(obj), str(out)], check=True)
    return out.read_bytes()


# vaddps zmm0, zmm1, zmm2 ; dec rcx ; jne back ; ret
LOOP = bytes.fromhex("62f1744858c2" "48ffc9" "75f5" "c3")


def test_loop_translates_with_labels():
    t = translate(LOOP, nan_mode="fast")
    asm = t.asm()
    assert ".L_0:" in asm and "b.ne .L_0" in asm
    assert "fadd z0.s, z1.s, z2.s" in asm
    assert "subs x3, x3, #1" in asm or "sub x3, x3, #1" in asm
    assert t.stats["x86_instructions"] == 4 and t.stats["translated"] == 4
    assert len(t.arm_code) % 4 == 0 and t.arm_code


def test_flag_liveness_loop():
    p = walk(LOOP)
    live = flag_liveness(p, list(p.insns.values()))
    assert live[0x6] == frozenset({"ZF"})          # dec's ZF is read by jne
    assert live[0x0] == frozenset()                 # nothing reads flags after vaddps


def test_vector_liveness_ret_keeps_only_return_registers():
    p = walk(LOOP)
    vlive = vector_liveness(p, list(p.insns.values()))
    assert vlive[0xB] == frozenset({0, 1})
    assert 0 in vlive[0x0]                          # zmm0 is live into ret (xmm0 return)


def test_embedded_data_is_carried_and_referenced():
    # vbroadcastss zmm0, [rip+2] ; ret ; (pad) ; data 1.0f at 0xc
    code = bytes.fromhex("62f27d48180502000000" "c3" "90") + bytes.fromhex("0000803f")
    t = translate(code, nan_mode="fast")
    asm = t.asm()
    assert ".L_c:" in asm and "0x80, 0x3f" in asm
    assert "adr x16, .L_c" in asm


def test_bad_input_is_one_line():
    with pytest.raises(BadInput) as e:
        translate(bytes.fromhex("62f1"))
    assert "\n" not in str(e.value) and "offset 0x0" in str(e.value)


def test_unsupported_names_offset_bytes_and_text():
    code = bytes.fromhex("0fa2" "c3")          # cpuid ; ret
    with pytest.raises(UnsupportedError) as e:
        translate(code)
    msg = str(e.value)
    assert "0x0" in msg and "0f a2" in msg and "cpuid" in msg
    t = translate(code, allow_unsupported=True)
    assert "brk" in t.asm() and t.stats["unsupported"] == {"cpuid": 1}


@pytest.mark.skipif(not (GAS and OBJCOPY), reason="GNU as for aarch64 not installed")
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus not present")
@pytest.mark.parametrize("folder", ["onednn-avx512-core", "onednn-avx2"])
def test_corpus_asm_equals_bin(folder, tmp_path):
    """For every kernel, GNU as on --format asm gives exactly --format bin."""
    files = sorted((CORPUS / folder).glob("*.bin"))
    assert files
    for f in files:
        t = translate(f.read_bytes(), allow_unsupported=True)
        assert gnu_as(t.asm(), tmp_path) == t.arm_code, f.name


def test_lock_prefix_needs_an_atomic_lowering():
    """`lock adc [rax], rbx` has no atomic lowering: refused, never translated non-atomically."""
    with pytest.raises(UnsupportedError) as e:
        translate(bytes.fromhex("f0481118" "c3"))
    assert "lock" in str(e.value) and "atomic" in str(e.value)
    assert "ldaddal" in translate(bytes.fromhex("f0480fc118" "c3")).asm()   # lock xadd: atomic
    assert "ldaddal" in translate(bytes.fromhex("f0480118" "c3")).asm()     # lock add (gpr_atomic.yaml)


def test_rel32_jump_table_with_displacement_is_not_guessed():
    # lea r10,[rip+T]; movsxd rax,[r10+rdi*4+8]; add rax,r10; jmp rax  -> slots are at T+8 but
    # entries are relative to T: the walker leaves it unresolved rather than mis-resolving it
    from translator.decode.flow import walk
    import struct
    pre = bytes.fromhex("4c8d1511000000" "496344ba08" "4c01d0" "ffe0" "c3" "c3" "9090")
    code = pre + bytes(3) + bytes(8) + struct.pack("<ii", 17 - 24, 18 - 24)   # T = 24; real targets 17, 18
    p = walk(code, 0x10000)
    assert p.indirect == {0x1000F: None}
    with pytest.raises(UnsupportedError):
        translate(code, base=0x10000)
