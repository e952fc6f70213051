"""The `x2sve` command line, end to end through `python -m translator` (no console script needed).

Inputs are chosen so that the tests do not depend on how far the mapping tables have got:
`in al, dx` (ec) will never have a mapping; `vaddps zmm0, zmm0, zmm2` is the first entry there is.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "translator" / "examples"
VADDPS = "62 f1 7c 48 58 c2"          # vaddps zmm0, zmm0, zmm2
UNSUP = "ec"                          # in al, dx
REQUIRED_STATS = {"x86_instructions", "translated", "arm_instructions", "unsupported"}


def x2sve(*args, stdin: bytes | None = None, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("X2SVE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "translator", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd or ROOT, env=env, timeout=120)


def one_error_line(r) -> str:
    err = r.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("x2sve: error: "), err
    return lines[0]


# ---- help, version, usage ------------------------------------------------------------------------

def test_help_and_version():
    r = x2sve("--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for word in ("translate", "verify", "tables", "coverage", "exit codes"):
        assert word in out
    r = x2sve("translate", "--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for flag in ("--format", "--vl", "--linear", "--base", "--symbol", "--allow-unsupported", "--hex",
                 "--nan-mode", "-o", "examples:"):
        assert flag in out
    assert x2sve("coverage", "--help").returncode == 0
    assert x2sve("tables", "lint", "--help").returncode == 0
    r = x2sve("--version")
    assert r.returncode == 0 and r.stdout.decode().startswith("x2sve ")


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["translate"],                                        # no input
    ["translate", "--bogus", "--hex", "c3"],
    ["translate", "--format", "elf", "--hex", "c3"],
    ["translate", "--vl", "100", "--hex", "c3"],
    ["translate", "--base", "nope", "--hex", "c3"],
    ["translate", "--symbol", "1bad", "--hex", "c3"],
    ["translate", "--hex", "c3", "some.bin"],             # both
    ["translate", "-", "-"],
    ["tables"],
])
def test_usage_errors_exit_2(args):
    r = x2sve(*args)
    assert r.returncode == 2, (args, r.stderr)
    one_error_line(r)
    assert r.stdout == b""


# ---- bad input -------------------------------------------------------------------------------------

def test_random_bytes_exit_1_names_offset():
    r = x2sve("translate", "--hex", "ff ff ff")
    assert r.returncode == 1
    line = one_error_line(r)
    assert "offset 0x0" in line
    assert r.stdout == b""


def test_truncated_exit_1():
    r = x2sve("translate", "--hex", "62 f1")
    assert r.returncode == 1
    assert "offset 0x0" in one_error_line(r)
    r = x2sve("translate", "--linear", "--hex", "62f17c4858c2 62f1")
    assert r.returncode == 1
    assert "offset 0x6" in one_error_line(r)


def test_bad_hex_and_missing_file_exit_1(tmp_path):
    r = x2sve("translate", "--hex", "6")
    assert r.returncode == 1
    one_error_line(r)
    r = x2sve("translate", tmp_path / "missing.bin")
    assert r.returncode == 1
    assert "missing.bin" in one_error_line(r)
    (tmp_path / "empty.bin").write_bytes(b"")
    r = x2sve("translate", tmp_path / "empty.bin")
    assert r.returncode == 1
    one_error_line(r)


# ---- unsupported -----------------------------------------------------------------------------------

def test_unsupported_exit_3_nothing_written(tmp_path):
    out = tmp_path / "out.s"
    r = x2sve("translate", "--linear", "--format", "asm", "-o", out, "--hex", f"{VADDPS} {UNSUP} {UNSUP}")
    assert r.returncode == 3
    line = one_error_line(r)
    assert "offset 0x6" in line and " ec" in line and "in al" in line
    assert "1 more" in line and "--allow-unsupported" in line and "coverage" in line
    assert r.stdout == b"" and not out.exists()


def test_allow_unsupported_gives_brk():
    r = x2sve("translate", "--linear", "--format", "asm", "--allow-unsupported", "--hex", f"{VADDPS} {UNSUP}")
    assert r.returncode == 0, r.stderr
    assert "brk" in r.stdout.decode()
    r = x2sve("translate", "--linear", "--format", "json", "--allow-unsupported", "--hex", UNSUP)
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert d["unsupported"] == {"in": 1} and d["translated"] == 0


# ---- output formats --------------------------------------------------------------------------------

def test_json_keys():
    r = x2sve("translate", "--linear", "--format", "json", "--hex", VADDPS)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert REQUIRED_STATS | {"files"} <= set(d)
    assert d["x86_instructions"] == 1 and d["translated"] == 1 and d["unsupported"] == {}
    assert d["arm_instructions"] >= 1
    assert len(d["files"]) == 1
    f = d["files"][0]
    assert {"path"} | REQUIRED_STATS <= set(f)
    for k in REQUIRED_STATS:
        assert f[k] == d[k]


def test_formats_and_output_file(tmp_path):
    r = x2sve("translate", "--linear", "--hex", VADDPS)            # listing is the default
    assert r.returncode == 0
    assert "vaddps" in r.stdout.decode() and "fadd" in r.stdout.decode()
    out = tmp_path / "k.bin"
    r = x2sve("translate", "--linear", "--format", "bin", "-o", out, "--hex", VADDPS)
    assert r.returncode == 0 and r.stdout == b""
    code = out.read_bytes()
    assert code and len(code) % 4 == 0
    r = x2sve("translate", "--linear", "--format", "bin", "--hex", VADDPS)
    assert r.stdout == code


def test_stdin_input():
    r = x2sve("translate", "--linear", "--format", "json", "-", stdin=bytes.fromhex(VADDPS))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["path"] == "<stdin>"


def _several(tmp_path) -> list[Path]:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(bytes.fromhex(VADDPS))
    b.write_bytes(bytes.fromhex(VADDPS + UNSUP + VADDPS))
    return [a, b]


def test_several_inputs(tmp_path):
    files = _several(tmp_path)
    r = x2sve("translate", "--linear", "--format", "json", "--allow-unsupported", *files)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [Path(f["path"]).name for f in d["files"]] == ["a.bin", "b.bin"]
    assert d["x86_instructions"] == 4 and d["unsupported"] == {"in": 1}
    r = x2sve("translate", "--linear", "--format", "asm", "--allow-unsupported", *files)
    asm = r.stdout.decode()
    assert "x2sve_kernel_0:" in asm and "x2sve_kernel_1:" in asm
    assert ".Lk0_" in asm and ".Lk1_" in asm
    r = x2sve("translate", "--linear", "--format", "bin", "--allow-unsupported", *files)
    assert len(r.stdout) % 16 == 0
    r = x2sve("translate", "--linear", "--allow-unsupported", *files)
    assert r.stdout.decode().count("// ==== kernel") == 2
    r = x2sve("translate", "--linear", *files)                   # unsupported in the second file
    assert r.returncode == 3 and "b.bin" in one_error_line(r)


GAS = shutil.which("aarch64-linux-gnu-as")
OBJCOPY = shutil.which("aarch64-linux-gnu-objcopy")


@pytest.mark.skipif(not (GAS and OBJCOPY), reason="GNU as for aarch64 not installed")
@pytest.mark.parametrize("symbol", [None, "kern"])
def test_several_inputs_asm_assembles_to_bin(tmp_path, symbol):
    files = _several(tmp_path)
    sym = ["--symbol", symbol] if symbol else []
    asm = x2sve("translate", "--linear", "--format", "asm", "--allow-unsupported", *sym, *files)
    bin_ = x2sve("translate", "--linear", "--format", "bin", "--allow-unsupported", *sym, *files)
    assert asm.returncode == 0 and bin_.returncode == 0
    if symbol:
        assert ".globl kern_0" in asm.stdout.decode() and ".globl kern_1" in asm.stdout.decode()
    s, o, b = tmp_path / "k.s", tmp_path / "k.o", tmp_path / "k.raw"
    s.write_bytes(asm.stdout)
    subprocess.run([GAS, "-march=armv8.2-a+sve", "-o", o, s], check=True, capture_output=True)
    subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", o, b], check=True, capture_output=True)
    assert b.read_bytes() == bin_.stdout


# ---- jitdump -----------------------------------------------------------------------------------------

def _jitdump(kernels: list[tuple[str, int, bytes]]) -> bytes:
    out = struct.pack("<IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, 1234, 0, 0)
    for i, (name, addr, code) in enumerate(kernels):
        body = struct.pack("<IIQQQQ", 1234, 1234, addr, addr, len(code), i) + name.encode() + b"\0" + code
        out += struct.pack("<IIQ", 0, 16 + len(body), 0) + body
    return out


def test_jitdump_input(tmp_path):
    f = tmp_path / "jit-1234.dump"
    f.write_bytes(_jitdump([("k_one", 0x7F0000001000, bytes.fromhex(VADDPS)),
                            ("k_two", 0x7F0000002000, bytes.fromhex(VADDPS))]))
    r = x2sve("translate", "--linear", "--format", "json", f)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["name"] for x in d["files"]] == ["k_one", "k_two"]
    assert [x["address"] for x in d["files"]] == [0x7F0000001000, 0x7F0000002000]
    assert d["x86_instructions"] == 2
    f.write_bytes(f.read_bytes()[:-3])                           # truncated record
    r = x2sve("translate", "--linear", f)
    assert r.returncode == 1
    assert "offset" in one_error_line(r)


# ---- tables lint ---------------------------------------------------------------------------------------

def test_tables_lint_ok():
    r = x2sve("tables", "lint")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("ok: ")


def test_tables_lint_malformed(tmp_path):
    (tmp_path / "bad.yaml").write_text("vaddps:\n  doc: fine\n  rules: [\n    {sve: x\n")
    r = x2sve("tables", "lint", tmp_path)
    assert r.returncode == 1
    assert re.search(r"bad\.yaml:\d+: ", one_error_line(r))
    (tmp_path / "bad.yaml").write_text("vaddps:\n  doc: fine\n  nonsense_key: 1\n  rules: [{sve: [nop]}]\n")
    r = x2sve("tables", "lint", tmp_path)
    assert r.returncode == 1
    assert re.search(r"bad\.yaml:[12]: .*nonsense_key", one_error_line(r))
    (tmp_path / "bad.yaml").write_text("vaddps:\n  rules:\n    - sve: ['fadd {dst.s, {src1}.s']\n")
    r = x2sve("tables", "lint", tmp_path)
    assert r.returncode == 1
    assert re.search(r"bad\.yaml:3: .*unbalanced", one_error_line(r))


# ---- coverage ---------------------------------------------------------------------------------------

def test_coverage(tmp_path):
    files = _several(tmp_path)
    r = x2sve("coverage", "--linear", "--json", *files)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    rows = {m["mnemonic"]: m for m in d["mnemonics"]}
    assert rows["vaddps"]["count"] == 3 and rows["vaddps"]["translated"] == 3
    assert rows["in"]["unsupported"] == 1
    assert d["mnemonics"][0]["mnemonic"] == "vaddps"              # sorted by count
    r = x2sve("coverage", "--linear", *files)
    assert r.returncode == 0
    text = r.stdout.decode()
    assert text.splitlines()[0].startswith("mnemonic") and "total:" in text


# ---- robustness -------------------------------------------------------------------------------------

def test_internal_error_is_one_line(monkeypatch, capsys):
    import translator
    from translator import cli

    def boom(*a, **k):
        raise RuntimeError("kaput\nsecond line")
    monkeypatch.setattr(translator, "translate", boom)
    rc = cli.main(["translate", "--hex", "c3"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: kaput second line)" in err


def test_broken_pipe_is_quiet():
    ex = sorted(EXAMPLES.glob("*.bin"))[0]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(f"'{sys.executable}' -m translator translate --allow-unsupported '{ex}' | head -c 10",
                       shell=True, capture_output=True, env=env, cwd=ROOT, timeout=120)
    assert b"Traceback" not in p.stderr and b"Error" not in p.stderr


def test_bundled_examples_exist():
    bins = sorted(EXAMPLES.glob("*.bin"))
    assert len(bins) >= 4
    assert sum(b.stat().st_size for b in bins) < 64 * 1024
    assert (EXAMPLES / "README.md").is_file()
    r = x2sve("coverage", "--json", EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kernels"] == len(bins)


def test_verify_is_delegated():
    try:
        import translator.verify.cli  # noqa: F401
    except ImportError:
        r = x2sve("verify")
        assert r.returncode == 2
        one_error_line(r)
        return
    r = x2sve("verify", "--help")
    assert r.returncode == 0 and "--states" in r.stdout.decode()
    r = x2sve("verify", "--no-such-option")
    assert r.returncode == 2
    one_error_line(r)
