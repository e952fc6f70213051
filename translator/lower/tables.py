"""Loading and checking the YAML mapping tables in ``mapping_tables/``.

A table file maps x86 mnemonics (or named families) to entries; ``patterns.yaml`` holds rule
sets that entries share through ``use:``. Every problem is reported as ``TableError`` with
``file:line: what is wrong``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

import yaml

TABLE_DIR = Path(__file__).resolve().parents[2] / "mapping_tables"

ENTRY_KEYS = {"doc", "mnemonics", "operands", "T", "use", "args", "rules", "nan", "flags",
              "undefined_flags", "clobbers", "masking", "rw", "verify", "approx", "cond",
              "escape", "reads_flags", "atomic", "pf", "data", "keeps_zero"}
RULE_KEYS = {"when", "test", "sve", "note", "flags", "keeps_zero"}
PATTERN_KEYS = {"doc", "params", "rules"}
OPERAND_KINDS = {"vec", "zmm", "ymm", "xmm", "mem", "bcst", "gpr", "r8", "r16", "r32", "r64",
                 "k", "imm", "rel", "none"}
FLAG_NAMES = {"CF", "PF", "AF", "ZF", "SF", "OF"}
FLAG_LOCS = {"C", "!C", "Z", "N", "V", "0", "1"}
MASKINGS = {"none", "merge", "zero"}


class TableError(Exception):
    """A malformed mapping table: the message is ``file:line: problem``."""


class _LineDict(dict):
    line: int = 0


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # libyaml when present: ~10x faster
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> _LineDict:
    loader.flatten_mapping(node)
    d = _LineDict()
    d.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in d:
            raise TableError(f"{loader.name}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        d[key] = loader.construct_object(value_node, deep=True)
    return d


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Rule:
    when: dict
    test: Optional[str]
    sve: list[str]
    note: str = ""
    flags: Optional[dict] = None
    where: str = ""
    keeps_zero: bool = False      # as Entry.keeps_zero, for this rule only


@dataclass
class Entry:
    name: str
    mnemonics: list[str]
    operands: dict[str, set[str]]
    rules: list[Rule]
    where: str
    T: Optional[str] = None
    args: dict = field(default_factory=dict)
    nan: list[str] = field(default_factory=list)
    flags: Optional[dict] = None
    undefined_flags: list[str] = field(default_factory=list)
    clobbers: list[str] = field(default_factory=list)
    masking: set[str] = field(default_factory=lambda: {"none"})
    rw: list[str] = field(default_factory=list)
    verify: dict = field(default_factory=dict)
    doc: str = ""
    approx: str = ""
    escape: Optional[str] = None
    reads_flags: bool = False
    atomic: bool = False          # the lowering is atomic, so a `lock` prefix is honoured
    pf: list = field(default_factory=list)   # rules leaving the PF byte in {pf} (flags.py "P")
    data: list = field(default_factory=list)  # constant lines (.word ...) placed out of line (engine)
    keeps_zero: bool = False      # VEX/EVEX ymm/xmm: sources zero above the width -> dst is too

    @property
    def claims_keeps_zero(self) -> bool:
        """The entry, or one of its rules, claims ``keeps_zero``."""
        return self.keeps_zero or any(r.keeps_zero for r in self.rules)

    @cached_property
    def splats(self) -> list[tuple[str, str]]:
        """(operand, splat) pairs that rules ask for with ``when: {<operand>_splat: ...}``
        (lower/splat.py; verify runs such rules on states holding the splat)."""
        out = []
        for r in self.rules:
            for k, v in r.when.items():
                if k.endswith("_splat") and (k[:-6], v) not in out:
                    out.append((k[:-6], v))
        return out

    @cached_property
    def uses_lane(self) -> bool:
        """A rule names ``{lane}``: the predicate of the element ``imm`` selects (a unit
        constant, lower/regmap.py); verify also runs the rules for units without one."""
        return any("{lane}" in line for r in self.rules for line in r.sve)

    @cached_property
    def reuses(self) -> list[str]:
        """Operands that rules ask about with ``when: {reuses: src1}``: the next instruction of
        this kind in the same stretch reads that operand's register again, unchanged (a rule
        may then keep what it derived from it in temporaries for lower/peephole.py to find)."""
        out = []
        for r in self.rules:
            v = r.when.get("reuses")
            for x in (v if isinstance(v, list) else [v] if v is not None else []):
                if x != "none" and x not in out:
                    out.append(x)
        return out

    def accepts(self, kinds: list[str]) -> bool:
        if len(kinds) < len(self.operands):        # trailing operands whose kinds allow `none` may be absent
            kinds = list(kinds) + ["none"] * (len(self.operands) - len(kinds))
        if len(kinds) != len(self.operands):
            return False
        return all(k in allowed or _kind_family(k) in allowed
                   for k, allowed in zip(kinds, self.operands.values()))


def _kind_family(kind: str) -> str:
    if kind in ("zmm", "ymm", "xmm"):
        return "vec"
    if kind in ("r8", "r16", "r32", "r64", "r8h"):
        return "gpr"
    return kind


def _fail(path: str, line: int, msg: str) -> TableError:
    return TableError(f"{path}:{line}: {msg}")


def _load_file(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as e:
        raise TableError(f"{path}:0: cannot read: {e.strerror}") from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        raise TableError(f"{path}:{line}: YAML syntax error: {e.problem or e.context}") from None
    finally:
        loader.dispose()
    if data is None:
        return _LineDict()
    if not isinstance(data, dict):
        raise _fail(str(path), 1, "a table file must be a mapping of mnemonics to entries")
    return data




def _flatten(items: list) -> list:
    return [s for item in items for s in (_flatten(item) if isinstance(item, list) else [item])]


def _parse_rules(raw: Any, path: str, line: int) -> list[Rule]:
    if not isinstance(raw, list) or not raw:
        raise _fail(path, line, "'rules' must be a non-empty list")
    rules = []
    for r in raw:
        rl = getattr(r, "line", line)
        if not isinstance(r, dict):
            raise _fail(path, rl, "each rule must be a mapping with 'sve' (and optional 'when')")
        bad = set(r) - RULE_KEYS
        if bad:
            raise _fail(path, rl, f"unknown rule key(s) {sorted(bad)}; allowed: {sorted(RULE_KEYS)}")
        sve = r.get("sve")
        if isinstance(sve, str):
            sve = [sve]
        if isinstance(sve, list):      # nested lists (YAML anchors of shared runs, `*name`) are spliced in
            sve = _flatten(sve)
        if not isinstance(sve, list) or not all(isinstance(s, str) for s in sve):
            raise _fail(path, rl, "'sve' must be a list of A64 assembly lines")
        when = r.get("when") or {}
        if not isinstance(when, dict):
            raise _fail(path, rl, "'when' must be a mapping of condition -> value")
        test = r.get("test")
        if test is not None:
            try:
                compile(test, path, "eval")
            except SyntaxError:
                raise _fail(path, rl, f"'test' is not a valid expression: {test!r}") from None
        rules.append(Rule(dict(when), test, sve, r.get("note", ""), r.get("flags"), f"{path}:{rl}",
                          bool(r.get("keeps_zero"))))
    return rules


def _parse_data(raw: Any, path: str, line: int) -> list[str]:
    """``data:``: lines of constant data (labels, .word ...) that the rules address ({L0})."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise _fail(path, line, "'data' must be a list of assembly lines (labels and data directives)")
    return list(raw)


def _parse_operands(raw: Any, path: str, line: int) -> dict[str, set[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, line, "'operands' must map operand names to kinds, e.g. {dst: vec, src: vec/mem}")
    ops = {}
    for name, kinds in raw.items():
        ks = set(str(kinds).split("/"))
        bad = ks - OPERAND_KINDS
        if bad:
            raise _fail(path, line, f"operand {name!r}: unknown kind(s) {sorted(bad)}; known: {sorted(OPERAND_KINDS)}")
        ops[name] = ks
    return ops


@dataclass
class Tables:
    entries: dict[str, Entry]                 # mnemonic -> entry
    patterns: dict[str, dict]
    files: list[str]

    def entry_for(self, mnemonic: str) -> Optional[Entry]:
        return self.entries.get(mnemonic)

    def all_entries(self) -> list[Entry]:
        seen, out = set(), []
        for e in self.entries.values():
            if id(e) not in seen:
                seen.add(id(e))
                out.append(e)
        return out


def load_tables(directory: Path | str | None = None) -> Tables:
    """Load and validate every ``*.yaml`` in the table directory."""
    d = Path(directory) if directory else TABLE_DIR
    if not d.is_dir():
        raise TableError(f"{d}:0: mapping table directory not found")
    files = sorted(d.glob("*.yaml"))
    patterns: dict[str, dict] = {}
    pat_file = d / "patterns.yaml"
    if pat_file.exists():
        for name, p in _load_file(pat_file).items():
            line = getattr(p, "line", 1)
            if not isinstance(p, dict):
                raise _fail(str(pat_file), line, f"pattern {name!r} must be a mapping")
            bad = set(p) - PATTERN_KEYS
            if bad:
                raise _fail(str(pat_file), line, f"pattern {name!r}: unknown key(s) {sorted(bad)}")
            patterns[name] = {"params": list(p.get("params") or []),
                              "rules": _parse_rules(p.get("rules"), str(pat_file), line),
                              "doc": p.get("doc", "")}
    entries: dict[str, Entry] = {}
    for f in files:
        if f.name == "patterns.yaml":
            continue
        data = _load_file(f)
        for name, raw in data.items():
            path = str(f)
            line = getattr(raw, "line", 1)
            if not isinstance(raw, dict):
                raise _fail(path, line, f"entry {name!r} must be a mapping")
            bad = set(raw) - ENTRY_KEYS
            if bad:
                raise _fail(path, line, f"entry {name!r}: unknown key(s) {sorted(bad)}; allowed: {sorted(ENTRY_KEYS)}")
            args = dict(raw.get("args") or {})
            if "use" in raw:
                pname = raw["use"]
                if pname not in patterns:
                    raise _fail(path, line, f"entry {name!r}: unknown pattern {pname!r} (see patterns.yaml)")
                missing = [p for p in patterns[pname]["params"] if p not in args]
                if missing:
                    raise _fail(path, line, f"entry {name!r}: pattern {pname!r} needs args {missing}")
                rules = list(patterns[pname]["rules"])
                if "rules" in raw:
                    rules = _parse_rules(raw["rules"], path, line) + rules
            else:
                rules = _parse_rules(raw.get("rules"), path, line)
            T = raw.get("T")
            if T is not None and T not in ("b", "h", "s", "d", "q"):
                raise _fail(path, line, f"entry {name!r}: T must be one of b, h, s, d, q")
            operands = _parse_operands(raw.get("operands"), path, line)
            nan = list(raw.get("nan") or [])
            for n in nan:      # operands, or temporaries ({t3}) that the rules compute the sources into
                if n not in operands and not (isinstance(n, str) and n[:1] == "t" and n[1:].isdigit()):
                    raise _fail(path, line, f"entry {name!r}: nan names unknown operand {n!r}")
            flags = raw.get("flags")
            if flags is not None:
                if not isinstance(flags, dict):
                    raise _fail(path, line, f"entry {name!r}: 'flags' must map x86 flags to NZCV locations")
                for k, v in flags.items():
                    if k not in FLAG_NAMES or str(v) not in FLAG_LOCS:
                        raise _fail(path, line, f"entry {name!r}: bad flag mapping {k}: {v} "
                                    f"(flags {sorted(FLAG_NAMES)}, locations {sorted(FLAG_LOCS)})")
            masking = set(raw.get("masking") or ["none"])
            if masking - MASKINGS:
                raise _fail(path, line, f"entry {name!r}: masking must be among {sorted(MASKINGS)}")
            mnems = list(raw.get("mnemonics") or [name])
            e = Entry(name=name, mnemonics=mnems, operands=operands, rules=rules,
                      where=f"{path}:{line}", T=T, args=args, nan=nan, flags=flags,
                      undefined_flags=list(raw.get("undefined_flags") or []),
                      clobbers=list(raw.get("clobbers") or []), masking=masking,
                      rw=list(raw.get("rw") or []), verify=dict(raw.get("verify") or {}),
                      doc=raw.get("doc", ""), approx=raw.get("approx", ""),
                      escape=raw.get("escape"), reads_flags=bool(raw.get("reads_flags")),
                      atomic=bool(raw.get("atomic")),
                      pf=_parse_rules(raw["pf"], path, line) if "pf" in raw else [],
                      data=_parse_data(raw.get("data"), path, line),
                      keeps_zero=bool(raw.get("keeps_zero")))
            for m in mnems:
                if m in entries:
                    raise _fail(path, line, f"mnemonic {m!r} already defined at {entries[m].where}")
                entries[m] = e
    return Tables(entries, patterns, [str(f) for f in files])


_CACHE: dict[str, Tables] = {}


def default_tables() -> Tables:
    key = str(TABLE_DIR)
    if key not in _CACHE:
        _CACHE[key] = load_tables(TABLE_DIR)
    return _CACHE[key]
