"""``x2sve tables lint [DIR]``: load and check the YAML mapping tables.

Loads every ``*.yaml`` of DIR (default: the ``mapping_tables/`` the translator uses) with
``translator.lower.tables.load_tables``, which checks the schema, and then a few things that
loading alone does not: balanced ``{placeholder}`` braces in every ``sve:`` line and non-empty
mnemonic lists. Prints ``ok: N entries, M mnemonics`` (exit 0) or one line
``x2sve: error: FILE:LINE: problem`` (exit 1).
"""
from __future__ import annotations

import argparse
import sys

LINT_EPILOG = """\
examples:
  x2sve tables lint                    # the tables x2sve translates with
  x2sve tables lint my_tables/         # another directory of *.yaml tables

exit codes: 0 ok, 1 a table is malformed (FILE:LINE: problem), 2 usage error
"""



def _balanced(line: str) -> bool:
    """Braces nest properly (``{{src}.{T}}`` is a register list around placeholders)."""
    depth = 0
    for ch in line:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def add_tables_arguments(p: argparse.ArgumentParser, parser_class=argparse.ArgumentParser,
                         formatter_class=argparse.HelpFormatter) -> None:
    sub = p.add_subparsers(dest="tables_command", metavar="SUBCOMMAND", parser_class=parser_class)
    lint = sub.add_parser("lint", help="check the mapping tables (schema, patterns, placeholders)",
                          formatter_class=formatter_class, epilog=LINT_EPILOG,
                          description="Load and check every *.yaml mapping table in DIR.")
    lint.add_argument("directory", nargs="?", metavar="DIR",
                      help="table directory (default: the mapping_tables/ that x2sve uses)")
    lint.set_defaults(func=cmd_lint)


def _extra_checks(tables) -> list[str]:
    problems = []
    rules = []
    for name, pat in tables.patterns.items():
        rules += pat["rules"]
    for e in tables.all_entries():
        if not e.mnemonics:
            problems.append(f"{e.where}: entry {e.name!r} has an empty 'mnemonics' list")
        rules += e.rules
    seen = set()
    for r in rules:
        if id(r) in seen:
            continue
        seen.add(id(r))
        for line in r.sve:
            if not _balanced(line):
                problems.append(f"{r.where}: unbalanced '{{' / '}}' in sve line {line!r}")
    return problems


def lint(directory=None) -> tuple[bool, str]:
    """(ok, message): message is ``ok: N entries, M mnemonics`` or ``FILE:LINE: problem``."""
    from .lower.tables import TableError, load_tables
    from pathlib import Path
    if directory is not None and Path(directory).is_dir() and not any(Path(directory).glob("*.yaml")):
        return False, f"{directory}:0: no *.yaml mapping tables in this directory"
    try:
        tables = load_tables(directory)
    except TableError as e:
        return False, " ".join(str(e).split())
    problems = _extra_checks(tables)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return False, problems[0] + more
    return True, (f"ok: {len(tables.all_entries())} entries, {len(tables.entries)} mnemonics "
                  f"({len(tables.patterns)} patterns, {len(tables.files)} files)")


def cmd_lint(args) -> int:
    ok, msg = lint(args.directory)
    if ok:
        print(msg)
        return 0
    print(f"x2sve: error: {msg}", file=sys.stderr)
    return 1
