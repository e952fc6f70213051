"""The ``x2sve`` command line (``python -m translator`` does the same).

Subcommands: ``translate``, ``verify``, ``tables lint``, ``coverage``. The surface (flags, exit codes,
JSON keys) is fixed by ../shared/interface.md; README.md documents it for users.

Exit codes: 0 ok; 1 bad input (unreadable, truncated or undecodable bytes); 2 usage error;
3 unsupported instructions found. Every error is ONE line on stderr, ``x2sve: error: ...``, never
a traceback (set ``X2SVE_DEBUG=1`` to get the traceback of an internal error).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Optional

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_UNSUPPORTED = 0, 1, 2, 3
PROG = "x2sve"
A64_NOP = (0xD503201F).to_bytes(4, "little")
MIN_KERNEL_ALIGN = 16          # concatenated kernels start at multiples of this (or more)


class CliError(Exception):
    """An error the CLI reports as one line and turns into an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def _error(msg: object) -> None:
    print(f"{PROG}: error: {_one_line(msg)}", file=sys.stderr)


def _warn(msg: object) -> None:
    print(f"{PROG}: warning: {_one_line(msg)}", file=sys.stderr)


# ---- argument parsing --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of usage + message."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise CliError(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=30, width=100)


def _int_auto(text: str) -> int:
    try:
        v = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r} (use e.g. 0x7f0000401000)") from None
    if not 0 <= v < 2 ** 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 64-bit address")
    return v


def _vl_bits(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 128 or v > 2048 or v % 128:
        raise argparse.ArgumentTypeError(f"{v}: an SVE vector length is a multiple of 128 from 128 to 2048")
    return v


_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _symbol(text: str) -> str:
    if not _C_IDENT.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a C identifier")
    return text


TOP_EPILOG = """\
examples:
  x2sve translate kernel.bin                          # listing: x86 | SVE, side by side
  x2sve translate --format asm --symbol k -o k.s kernel.bin
  x2sve translate --format json corpus/*.bin          # statistics
  x2sve translate --linear --hex "62 f1 7c 48 58 c2"  # vaddps zmm0, zmm0, zmm2
  x2sve translate jit-1234.dump                       # perf jitdump: one kernel per code load
  x2sve coverage corpus/onednn-avx512-core/           # what translates, per mnemonic
  x2sve verify --states 64 --only vaddps              # differential check of the tables
  x2sve tables lint                                   # check mapping_tables/*.yaml

exit codes: 0 ok, 1 bad input, 2 usage error, 3 unsupported instructions found
"""

TRANSLATE_EPILOG = """\
INPUT is a file of raw x86-64 machine code (e.g. oneDNN's dnnl_dump_cpu_*.bin, walked from
offset 0), '-' for stdin, a directory (its *.bin and *.dump files, sorted), or a Linux perf
jitdump file (recognised by its magic: one kernel per JIT_CODE_LOAD record, at its load address;
--base does not apply to those).

Several kernels (several INPUTs or a jitdump): 'listing' separates them with headers; 'json' lists
them under "files"; 'asm' puts each after a label x2sve_kernel_<i> (or the global symbol
NAME_<i> with --symbol NAME) and makes its local labels unique; 'bin' is the concatenation of the
same code, each kernel starting at a multiple of 16 bytes (padded with A64 nops), exactly what
assembling the 'asm' output gives.

examples:
  x2sve translate translator/examples/avx512_eltwise_relu.bin | head
  x2sve translate --format bin -o k.arm.bin kernel.bin
  x2sve translate --format asm --symbol my_kernel kernel.bin > k.s
  aarch64-linux-gnu-as -march=armv8.2-a+sve k.s -o k.o
  x2sve translate --allow-unsupported --format json kernel.bin
  x2sve translate --linear --hex "62 f1 7c 48 58 c2"

exit codes: 0 ok, 1 bad input (the message names the offset), 2 usage error,
3 unsupported instructions found (nothing is written unless --allow-unsupported)
"""

COVERAGE_EPILOG = """\
Translates every INPUT with --allow-unsupported and prints, per x86 mnemonic, how many reached
instructions there were, how many translated, how many did not, and the first reason.
Sorted by count (most frequent first). Inputs that cannot be decoded are reported as warnings
and make the exit code 1; unsupported instructions do not change it.

examples:
  x2sve coverage /path/to/corpus/onednn-avx512-core/
  x2sve coverage --json --top 20 kernel.bin
"""


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="raw x86-64 code file, '-' for stdin, a directory, or a perf jitdump file")
    p.add_argument("--hex", metavar="BYTES",
                   help='the code inline as hex instead of INPUT, e.g. "62 f1 7c 48 58 c2" (spaces optional)')
    p.add_argument("--vl", type=_vl_bits, default=512, metavar="BITS",
                   help="target SVE vector length in bits (default 512)")
    p.add_argument("--linear", action="store_true",
                   help="decode linearly start to end instead of walking the control flow")
    p.add_argument("--base", type=_int_auto, default=None, metavar="ADDR",
                   help="address where the x86 code ran (relocates absolute addresses of its own labels; "
                        "default: inferred for raw dumps, 0 with --linear)")
    p.add_argument("--nan-mode", choices=("exact", "fast"), default="exact",
                   help="exact (default): NaN results bit-exact as on x86; fast: NaN lanes are NaN on both "
                        "sides but payload/sign may differ, non-NaN lanes stay bit-exact")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress line (shown on stderr for several kernels when stderr is a terminal)")
    p.add_argument("--progress", action="store_true", help="progress lines on stderr even if it is not a terminal")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog=PROG, formatter_class=_Formatter, epilog=TOP_EPILOG,
                description="x2sve: translate x86-64 (AVX-512/AVX2/SSE) JIT machine code into "
                            "A64 + Arm SVE, with every mapping verified against x86.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("translate", help="translate x86-64 machine code into A64/SVE",
                       formatter_class=_Formatter, epilog=TRANSLATE_EPILOG,
                       description="Translate raw x86-64 machine code into A64/SVE.")
    _add_input_args(t)
    t.add_argument("-o", "--output", metavar="OUT", help="write the output to OUT (default: stdout)")
    t.add_argument("--format", choices=("bin", "asm", "listing", "json"), default="listing",
                   help="bin: A64 machine code; asm: GNU as source that assembles to exactly 'bin'; "
                        "listing (default): x86 and SVE side by side; json: statistics")
    t.add_argument("--symbol", type=_symbol, metavar="NAME",
                   help="wrap the code as a global AAPCS64 function NAME with the kernel's System V signature")
    t.add_argument("--allow-unsupported", action="store_true",
                   help="emit a trapping brk for each untranslatable instruction and carry on")
    t.set_defaults(func=cmd_translate)

    v = sub.add_parser("verify", help="check every mapping-table entry against x86 on random states",
                       add_help=False, formatter_class=_Formatter,
                       description="Differential check of the mapping tables (see 'x2sve verify --help').")
    v.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    v.set_defaults(func=cmd_verify)

    tb = sub.add_parser("tables", help="mapping-table tools ('tables lint')", formatter_class=_Formatter,
                        description="Tools for the YAML mapping tables in mapping_tables/.")
    from .tables_cli import add_tables_arguments
    add_tables_arguments(tb, _Parser, _Formatter)

    c = sub.add_parser("coverage", help="per-mnemonic table of translated/unsupported instructions",
                       formatter_class=_Formatter, epilog=COVERAGE_EPILOG,
                       description="How much of the input translates, per x86 mnemonic.")
    _add_input_args(c)
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("--top", type=int, default=0, metavar="N", help="only the N most frequent mnemonics")
    c.set_defaults(func=cmd_coverage)

    cf = sub.add_parser("conformance", help="check the x86 reference model against real executors",
                        formatter_class=_Formatter,
                        description="Run the x86 model and a real executor (native x86, or bochs for "
                                    "AVX-512 extensions this CPU lacks) on the same random states for "
                                    "every form in the tables; print agreement per form. Exit 0 when "
                                    "every form agrees.",
                        epilog="examples:\n  x2sve conformance --states 200\n"
                               "  x2sve conformance --oracle bochs --only '^vfmadd' --json\n")
    from .verify.conformance import add_conformance_arguments
    add_conformance_arguments(cf)
    cf.set_defaults(func=cmd_conformance)
    return p


def cmd_conformance(args) -> int:
    from .verify.conformance import run_conformance
    return int(run_conformance(args) or 0)


# ---- inputs ------------------------------------------------------------------------------------

@dataclass
class Unit:
    """One kernel to translate."""
    path: str                      # what the user named (plus '#i' for a jitdump record)
    code: bytes
    base: Optional[int] = None     # load address when the input carries one (jitdump)
    name: Optional[str] = None     # kernel name from a jitdump
    result: object = None
    extra: dict = field(default_factory=dict)


def parse_hex(text: str) -> bytes:
    """Hex bytes, spaces/commas/'0x'/'\\x' optional: '62 f1 7c', '62f17c', '0x62,0xf1'."""
    s = re.sub(r"(?i)0x|\\x", "", text)
    s = re.sub(r"[\s,;:]", "", s)
    bad = re.search(r"[^0-9a-fA-F]", s)
    if bad:
        raise CliError(f"--hex: not a hex digit: {bad.group()!r}")
    if not s:
        raise CliError("--hex: no bytes given")
    if len(s) % 2:
        raise CliError(f"--hex: odd number of hex digits ({len(s)}): the last byte (offset {len(s) // 2:#x}) is incomplete")
    return bytes.fromhex(s)


def _expand(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.endswith((".bin", ".dump")) and os.path.isfile(os.path.join(p, f)))
            if not found:
                raise CliError(f"{p}: directory has no *.bin or *.dump files")
            out += found
        else:
            out.append(p)
    return out


def read_inputs(args) -> list[Unit]:
    if args.hex is not None:
        if args.inputs:
            raise CliError("give either INPUT files or --hex, not both", EXIT_USAGE)
        return [Unit("<hex>", parse_hex(args.hex))]
    if not args.inputs:
        raise CliError(f"no INPUT given (a file, '-' for stdin, or --hex BYTES; see '{PROG} {args.command} --help')",
                       EXIT_USAGE)
    if args.inputs.count("-") > 1:
        raise CliError("'-' (stdin) can be given only once", EXIT_USAGE)
    units: list[Unit] = []
    for path in _expand(args.inputs):
        if path == "-":
            data = sys.stdin.buffer.read()
            label = "<stdin>"
        else:
            label = path
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as e:
                raise CliError(f"{path}: cannot read: {e.strerror or e}") from None
        units += _units_of(label, data)
    return units


def _units_of(label: str, data: bytes) -> list[Unit]:
    from .decode.jitdump import is_jitdump, read_jitdump
    if not is_jitdump(data):
        return [Unit(label, data)]
    try:
        kernels = read_jitdump(data)
    except ValueError as e:
        raise CliError(f"{label}: {e}") from None
    if not kernels:
        raise CliError(f"{label}: jitdump file has no code-load records")
    return [Unit(f"{label}#{i}", k.code, base=k.address, name=k.name) for i, k in enumerate(kernels)]


# ---- translation -------------------------------------------------------------------------------

class _Progress:
    def __init__(self, total: int, quiet: bool, force: bool = False):
        self.tty = _isatty(sys.stderr)
        self.on = total > 1 and not quiet and (self.tty or force)
        self.total = total

    def step(self, i: int, what: str) -> None:
        if self.on:
            name = what if len(what) <= 60 else "..." + os.path.basename(what)[-57:]
            if self.tty:
                sys.stderr.write(f"\r\x1b[K[{i + 1}/{self.total}] {name}")
            else:
                sys.stderr.write(f"[{i + 1}/{self.total}] {name}\n")
            sys.stderr.flush()

    def done(self) -> None:
        if self.on and self.tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _isatty(f) -> bool:
    try:
        return f.isatty()
    except (AttributeError, ValueError):
        return False


def _unit_base(u: Unit, args) -> Optional[int]:
    return u.base if u.base is not None else args.base


def _offset_base(u: Unit, args) -> int:
    """The address of the unit's first byte, as the translator sees it (for offsets in messages)."""
    b = _unit_base(u, args)
    if b is not None:
        return b
    if args.linear:
        return 0
    try:
        from .decode.flow import infer_base
        return infer_base(u.code) or 0
    except Exception:  # only used to phrase a message
        return 0


def _translate_one(u: Unit, args, *, allow_unsupported: bool, symbol: Optional[str]):
    import translator
    return translator.translate(u.code, vl=args.vl, base=_unit_base(u, args), linear=args.linear,
                                allow_unsupported=allow_unsupported, symbol=symbol,
                                nan_mode=args.nan_mode)


def _symbol_for(args, i: int, n: int) -> Optional[str]:
    sym = getattr(args, "symbol", None)
    if sym is None:
        return None
    return sym if n == 1 else f"{sym}_{i}"


def _hexbytes(raw: bytes) -> str:
    return " ".join(f"{b:02x}" for b in raw)


def _unsupported_message(u: Unit, args, items: list, total: int) -> str:
    a, raw, text, reason = items[0]
    base = _offset_base(u, args)
    where = f"offset {a - base:#x}" + (f" (address {a:#x})" if base else "")
    more_here = len(items) - 1
    more_all = total - len(items)
    more = ""
    if more_here or more_all:
        parts = []
        if more_here:
            parts.append(f"{more_here} more in this input")
        if more_all:
            parts.append(f"{more_all} more in other inputs")
        more = "; " + ", ".join(parts)
    return (f"{u.path}: unsupported instruction at {where}: {_hexbytes(raw)}: {text} ({reason}){more}; "
            f"nothing written: use --allow-unsupported to emit brk traps instead, "
            f"or 'x2sve coverage' to list everything unsupported")


def translate_units(units: list[Unit], args) -> None:
    """Fill ``u.result`` for every unit; raise CliError for bad input or unsupported code."""
    from . import BadInput, TranslateError, UnsupportedError
    prog = _Progress(len(units), args.quiet, args.progress)
    unsupported: list[tuple[Unit, list]] = []
    try:
        for i, u in enumerate(units):
            prog.step(i, u.path)
            try:
                u.result = _translate_one(u, args, allow_unsupported=args.allow_unsupported,
                                          symbol=_symbol_for(args, i, len(units)))
            except UnsupportedError as e:
                unsupported.append((u, list(getattr(e, "items", None) or [])))
            except BadInput as e:
                raise CliError(f"{u.path}: {e}", EXIT_BAD_INPUT) from None
            except TranslateError as e:
                raise CliError(f"{u.path}: {e}", getattr(e, "exit_code", EXIT_BAD_INPUT)) from None
    finally:
        prog.done()
    if unsupported:
        total = sum(max(len(items), 1) for _, items in unsupported)
        u, items = unsupported[0]
        if not items:
            raise CliError(f"{u.path}: unsupported instructions found; use --allow-unsupported or 'x2sve coverage'",
                           EXIT_UNSUPPORTED)
        raise CliError(_unsupported_message(u, args, items, total), EXIT_UNSUPPORTED)


# ---- output ------------------------------------------------------------------------------------

_LOCAL_LABEL = re.compile(r"(?<![\w.$])\.L([A-Za-z0-9_$]+)")
_ALIGN = re.compile(r"^\s*\.(balign|p2align|align)\s+(\d+)", re.M)


def _max_align(asm: str) -> int:
    a = MIN_KERNEL_ALIGN
    for kind, n in _ALIGN.findall(asm):
        v = int(n) if kind == "balign" else 1 << int(n)
        a = max(a, v)
    return a


def _pad_words(size: int, align: int) -> int:
    return ((-size) % align) // 4


def stats_json(units: list[Unit]) -> dict:
    files = []
    total: dict = {"x86_instructions": 0, "translated": 0, "arm_instructions": 0, "unsupported": {}}
    for u in units:
        st = dict(u.result.stats)
        entry = {"path": u.path}
        if u.name is not None:
            entry["name"] = u.name
            entry["address"] = u.base
        entry.update(st)
        files.append(entry)
        for k, v in st.items():
            if k == "unsupported":
                for m, c in v.items():
                    total["unsupported"][m] = total["unsupported"].get(m, 0) + c
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    total["unsupported"] = dict(sorted(total["unsupported"].items(), key=lambda kv: (-kv[1], kv[0])))
    total["files"] = files
    return total


def render(units: list[Unit], fmt: str, symbol: Optional[str]) -> bytes:
    n = len(units)
    if fmt == "json":
        return (json.dumps(stats_json(units), indent=1) + "\n").encode()
    if n == 1:
        t = units[0].result
        if fmt == "bin":
            return bytes(t.arm_code)
        return (t.asm() if fmt == "asm" else t.listing()).encode()
    if fmt == "listing":
        out = []
        for i, u in enumerate(units):
            st = u.result.stats
            name = f" {u.name}" if u.name else ""
            at = f" at {u.base:#x}" if u.base is not None else ""
            out.append(f"// ==== kernel {i}: {u.path}{name}{at}: {st.get('x86_instructions')} x86 -> "
                       f"{st.get('arm_instructions')} A64 instructions ====\n")
            out.append(u.result.listing())
            out.append("\n")
        return "".join(out).encode()
    # asm / bin: concatenate, each kernel aligned; local labels made unique per kernel
    asms = [u.result.asm() for u in units]
    align = max(_max_align(a) for a in asms)
    if fmt == "bin":
        blob = bytearray()
        for u in units:
            code = bytes(u.result.arm_code)
            blob += code + A64_NOP * _pad_words(len(code), align)
        return bytes(blob)
    out = [f"// x2sve: {n} kernels, each at a multiple of {align} bytes\n", ".text\n"]
    for i, (u, a) in enumerate(zip(units, asms)):
        out.append(f"\n// kernel {i}: {u.path}" + (f" ({u.name})" if u.name else "") + "\n")
        if symbol is None:
            out.append(f"x2sve_kernel_{i}:\n")
        out.append(_LOCAL_LABEL.sub(lambda m, i=i: f".Lk{i}_{m.group(1)}", a))
        if not a.endswith("\n"):
            out.append("\n")
        pad = _pad_words(len(bytes(u.result.arm_code)), align)
        out.append("nop\n" * pad)
    return "".join(out).encode()


def write_output(data: bytes, out: Optional[str], fmt: str) -> None:
    if out is None or out == "-":
        if fmt == "bin" and _isatty(sys.stdout):
            raise CliError("refusing to write binary code to a terminal; use -o FILE or a pipe", EXIT_USAGE)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    d = os.path.dirname(os.path.abspath(out))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".x2sve-", dir=d)
    except OSError as e:
        raise CliError(f"{out}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, out)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CliError(f"{out}: cannot write: {e.strerror or e}") from None


# ---- commands ----------------------------------------------------------------------------------

def cmd_translate(args) -> int:
    units = read_inputs(args)
    translate_units(units, args)
    write_output(render(units, args.format, args.symbol), args.output, args.format)
    return EXIT_OK


def cmd_coverage(args) -> int:
    from . import TranslateError
    units = read_inputs(args)
    per: dict[str, dict] = {}
    bad = []
    n_ok = 0
    prog = _Progress(len(units), args.quiet, args.progress)
    try:
        for i, u in enumerate(units):
            prog.step(i, u.path)
            try:
                t = _translate_one(u, args, allow_unsupported=True, symbol=None)
            except TranslateError as e:
                bad.append((u, e))
                continue
            n_ok += 1
            _count_coverage(t, per)
    finally:
        prog.done()
    for u, e in bad:
        _warn(f"{u.path}: {e}")
    rows = sorted(per.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    if args.top > 0:
        rows = rows[:args.top]
    total = sum(r["count"] for r in per.values())
    ok = sum(r["translated"] for r in per.values())
    if args.json:
        doc = {"kernels": n_ok, "failed_inputs": [{"path": u.path, "error": _one_line(e)} for u, e in bad],
               "x86_instructions": total, "translated": ok, "unsupported": total - ok,
               "mnemonics": [{"mnemonic": m, **r} for m, r in rows]}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        w = max([len("mnemonic")] + [len(m) for m, _ in rows])
        lines = [f"{'mnemonic':<{w}}  {'count':>7}  {'translated':>10}  {'unsupported':>11}  first reason"]
        for m, r in rows:
            lines.append(f"{m:<{w}}  {r['count']:>7}  {r['translated']:>10}  {r['unsupported']:>11}  "
                         f"{r.get('reason') or ''}".rstrip())
        pct = 100.0 * ok / total if total else 100.0
        n_bad_m = sum(1 for r in per.values() if r["unsupported"])
        lines.append(f"total: {total} x86 instructions in {n_ok} kernels, {ok} translated ({pct:.1f}%), "
                     f"{total - ok} unsupported in {n_bad_m} mnemonics")
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if bad:
        _error(f"{len(bad)} of {len(units)} inputs could not be translated (see the warnings above)")
        return EXIT_BAD_INPUT
    return EXIT_OK


def _count_coverage(t, per: dict) -> None:
    bad_at = {}
    for item in t.unsupported:
        bad_at[item[0]] = item
    prog = getattr(t, "program", None)
    insns = getattr(prog, "insns", None)
    if insns:
        for a, insn in insns.items():
            r = per.setdefault(insn.mnemonic, {"count": 0, "translated": 0, "unsupported": 0, "reason": ""})
            r["count"] += 1
            if a in bad_at:
                r["unsupported"] += 1
                r["reason"] = r["reason"] or bad_at[a][3]
            else:
                r["translated"] += 1
        return
    for a, raw, text, reason in t.unsupported:   # no program: unsupported counts only
        m = text.split()[0] if text else "?"
        r = per.setdefault(m, {"count": 0, "translated": 0, "unsupported": 0, "reason": ""})
        r["count"] += 1
        r["unsupported"] += 1
        r["reason"] = r["reason"] or reason


def cmd_verify(args) -> int:
    try:
        from .verify.cli import add_verify_arguments, run_verify
    except ImportError as e:
        raise CliError(f"'verify' is not available in this installation ({e})", EXIT_USAGE) from None
    p = _Parser(prog=f"{PROG} verify", formatter_class=_Formatter,
                description="Check every mapping-table entry, in every operand shape it claims, by running "
                            "x86 and SVE on the same random states and comparing the results. "
                            "Exit 0 exactly when no state mismatched.",
                epilog="examples:\n  x2sve verify --states 64\n  x2sve verify --only '^vaddps' --json\n"
                       "  x2sve verify --jobs 8 --dump-cases cases.jsonl\n")
    add_verify_arguments(p)
    vargs = p.parse_args(args.rest)
    vargs.command = "verify"
    rc = run_verify(vargs)
    return EXIT_OK if rc is None else int(rc)


# ---- entry point -------------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    from . import IMPORT_ERROR
    if IMPORT_ERROR is not None:
        _error(f"a dependency is missing ({IMPORT_ERROR}); install with: pip install -e .")
        return 1
    try:
        try:
            if argv and argv[0] == "verify":     # its options belong to translator.verify.cli
                return cmd_verify(argparse.Namespace(command="verify", rest=list(argv[1:])))
            parser = build_parser()
            args = parser.parse_args(argv)
            if not getattr(args, "func", None):
                if getattr(args, "command", None) == "tables":
                    raise CliError("'tables' needs a subcommand: 'x2sve tables lint [DIR]'", EXIT_USAGE)
                raise CliError("no command given: use translate, verify, conformance, tables lint or coverage "
                               "(see 'x2sve --help')", EXIT_USAGE)
            return int(args.func(args) or 0)
        except SystemExit as e:          # --help, --version, and anything that calls sys.exit
            code = e.code
            if code is None:
                return EXIT_OK
            if isinstance(code, int):
                return code
            _error(code)
            return EXIT_BAD_INPUT
        finally:
            try:
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):
                raise BrokenPipeError from None
    except CliError as e:
        _error(e)
        return e.code
    except BrokenPipeError:              # e.g. `x2sve translate k.bin | head`
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except MemoryError:
        _error("out of memory")
        return EXIT_BAD_INPUT
    except Exception as e:               # never a traceback
        if os.environ.get("X2SVE_DEBUG"):
            raise
        _error(f"internal error ({type(e).__name__}: {e}); please report it with the input "
               f"(X2SVE_DEBUG=1 shows the traceback)")
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
