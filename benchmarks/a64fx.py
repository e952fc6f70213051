"""A64FX cost estimate for translated kernels (static, resource-bound).

Source: Fujitsu, "A64FX Microarchitecture Manual", English v1.3 (31 Oct 2020), public at
https://github.com/fujitsu/A64FX (chapter 16, "List of Instruction Attribute and Latency", and the
pipeline description: 4-wide decode/commit; FP/SVE pipes FLA and FLB; predicate pipe PR; integer
pipes EXA/EXB; address pipes EAGA/EAGB with 2 loads or 1 store per cycle; movprfx is packed with
the following instruction at decode).

The numbers below are APPROXIMATE: they were written down from that manual by class (the
representative instruction of each class), not checked entry by entry, and rounded; treat every
estimate as +-30%. Latency is in cycles, throughput in instructions per cycle on the named pipes.

The estimate is a lower bound on cycles for executing each instruction of a kernel once: the
maximum of the decode bound (instructions / 4) and each pipe group's occupancy. Dependency chains
(latencies) are not modelled; the latency column is shown for reference.
"""
from __future__ import annotations

import re
from collections import Counter

# class: (latency, throughput per cycle, pipe group, representative A64 instructions)
CLASSES = {
    "sve_fp_arith":  (9, 2.0, "FL", "fadd fsub fmul fmla fmls fmad fmax fmin fscale"),
    "sve_fp_simple": (4, 2.0, "FL", "fneg fabs fmov(imm)"),
    "sve_fp_div":    (98, 1 / 98, "FLA", "fdiv fsqrt (.s; unpipelined)"),
    "sve_fp_cmp":    (4, 1.0, "FLA", "fcmeq fcmgt fcmge fcmuo (-> predicate)"),
    "sve_cvt":       (9, 1.0, "FLA", "fcvt* scvtf ucvtf frint*"),
    "sve_int":       (4, 2.0, "FL", "add sub and orr eor bic sel mov dup lsl asr (z)"),
    "sve_int_mul":   (9, 1.0, "FLA", "mul mla sdot udot (z)"),
    "sve_permute":   (6, 1.0, "FLA", "tbl zip uzp trn ext rev splice compact"),
    "sve_reduce":    (12, 0.5, "FLA", "faddv fmaxv uaddv (approximate)"),
    "movprfx":       (0, 4.0, "DEC", "movprfx (packed with the next instruction)"),
    "pred":          (3, 1.0, "PR", "ptrue pfalse and/orr/not/mov p punpk uzp1 p ptest whilelo"),
    "sve_load":      (11, 2.0, "LD", "ld1w ld1d ld1rw ldr z/p (L1 hit)"),
    "sve_gather":    (19, 0.25, "LD", "ld1w gather (approximate)"),
    "sve_store":     (1, 1.0, "ST", "st1w st1d str z/p"),
    "gpr_load":      (5, 2.0, "LD", "ldr ldrb ldrh ldp (L1 hit)"),
    "gpr_store":     (1, 1.0, "ST", "str strb stp"),
    "int":           (1, 2.0, "EX", "add sub mov movz movk lsl and orr adr bfi ubfx csel cmp"),
    "int_mul":       (5, 1.0, "EX", "mul madd"),
    "branch":        (1, 1.0, "BR", "b b.cond cbz ret br bl"),
    "system":        (20, 0.05, "SYS", "mrs/msr fpcr (serialising; approximate)"),
    "other":         (4, 1.0, "EX", "anything not classified"),
}
DECODE_WIDTH = 4

_FP_ARITH = {"fadd", "fsub", "fmul", "fmla", "fmls", "fmad", "fmsb", "fnmla", "fnmls", "fnmad", "fnmsb",
             "fmax", "fmin", "fmaxnm", "fminnm", "fscale", "fabd", "fsubr", "fmulx", "frecps", "frsqrts"}
_FP_SIMPLE = {"fneg", "fabs", "fmov", "frecpe", "frsqrte", "fexpa", "ftssel", "ftsmul"}
_FP_DIV = {"fdiv", "fdivr", "fsqrt"}
_FP_CMP = {"fcmeq", "fcmne", "fcmgt", "fcmge", "fcmlt", "fcmle", "fcmuo", "facgt", "facge", "faclt", "facle"}
_CVT = {"fcvt", "fcvtzs", "fcvtzu", "scvtf", "ucvtf", "frintn", "frintm", "frintp", "frintz", "frinta",
        "frinti", "frintx", "bfcvt", "fcvtn", "fcvtl"}
_PERM = {"tbl", "zip1", "zip2", "uzp1", "uzp2", "trn1", "trn2", "ext", "rev", "revb", "revh", "revw",
         "splice", "compact", "insr", "sunpklo", "sunpkhi", "uunpklo", "uunpkhi", "lasta", "lastb",
         "clasta", "clastb"}
_REDUCE = {"faddv", "fadda", "fmaxv", "fminv", "fmaxnmv", "fminnmv", "uaddv", "saddv", "umaxv", "uminv",
           "smaxv", "sminv", "andv", "orv", "eorv"}
_PRED_ONLY = {"ptrue", "ptrues", "pfalse", "ptest", "punpklo", "punpkhi", "whilelo", "whilelt", "whilele",
              "whilels", "brka", "brkb", "pfirst", "pnext", "cntp", "nand", "nor", "orn", "rdffr", "setffr",
              "wrffr"}
_INT_MUL = {"mul", "mla", "mls", "smulh", "umulh", "sdot", "udot", "madd", "msub", "smull", "umull"}
_ZREG = re.compile(r"\bz\d+\.")
_BRANCH = {"b", "bl", "br", "blr", "ret", "cbz", "cbnz", "tbz", "tbnz"}
_SYSTEM = {"mrs", "msr", "isb", "dmb", "dsb", "brk"}
_GPR_LOAD = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrsw", "ldur", "ldurb", "ldurh", "ldp", "ldxr",
             "ldaxr", "ldar"}
_GPR_STORE = {"str", "strb", "strh", "stur", "sturb", "sturh", "stp", "stxr", "stlxr", "stlr"}


def classify(line: str) -> str:
    """The cost class of one A64 assembly line (labels/directives must be filtered out)."""
    sp = line.find(" ")
    mn = (line if sp < 0 else line[:sp]).lower()
    rest = "" if sp < 0 else line[sp + 1:]
    first = rest.split(",", 1)[0].strip()
    if mn.startswith("b."):
        return "branch"
    if mn == "movprfx":
        return "movprfx"
    if mn.startswith(("ld1", "ldnt1", "ldff1", "ld2", "ld3", "ld4")):
        return "sve_gather" if _ZREG.search(rest.split("[", 1)[-1]) else "sve_load"
    if mn.startswith(("st1", "stnt1", "st2", "st3", "st4")):
        return "sve_store"
    if mn in _BRANCH:
        return "branch"
    if mn in _SYSTEM:
        return "system"
    vec = first.startswith("z")
    pred = first.startswith("p")
    if mn in _GPR_LOAD:
        return "sve_load" if vec or pred else "gpr_load"
    if mn in _GPR_STORE:
        return "sve_store" if first.startswith(("z", "p")) else "gpr_store"
    if mn in _FP_CMP:
        return "sve_fp_cmp"
    if mn in _PRED_ONLY or pred:
        return "pred"
    if mn in _FP_DIV:
        return "sve_fp_div"
    if mn in _FP_ARITH:
        return "sve_fp_arith" if vec or first[:1] in "sdhv" else "other"
    if mn in _FP_SIMPLE:
        return "sve_fp_simple"
    if mn in _CVT:
        return "sve_cvt"
    if mn in _PERM:
        return "sve_permute"
    if mn in _REDUCE:
        return "sve_reduce"
    if mn in _INT_MUL:
        return "sve_int_mul" if vec else "int_mul"
    if vec:
        return "sve_int"
    if first.startswith(("x", "w")) or first in ("sp", "xzr", "wzr") or mn in ("cmp", "cmn", "tst", "nop"):
        return "int"
    return "other"


def classify_lines(lines) -> Counter:
    c: Counter = Counter()
    for l in lines:
        if l and not l.endswith(":") and not l.startswith((".", "//")):
            c[classify(l)] += 1
    return c


def estimate(counts) -> float:
    """Resource-bound cycles for one execution of each instruction counted in ``counts``."""
    total = sum(counts.values())
    if not total:
        return 0.0
    occ: dict[str, float] = {}            # pipe group -> cycles it is busy
    for cls, n in counts.items():
        lat, tput, group, _ = CLASSES.get(cls, CLASSES["other"])
        occ[group] = occ.get(group, 0.0) + n / tput
    fla = occ.get("FLA", 0.0)
    fp = (2 * occ.get("FL", 0.0) + fla) / 2          # FLA-only work occupies one of the two FP pipes
    mem = occ.get("LD", 0.0) + occ.get("ST", 0.0)    # loads and stores share EAGA/EAGB
    bounds = [total / DECODE_WIDTH, fla, fp, mem, occ.get("DEC", 0.0)]
    bounds += [occ.get(g, 0.0) for g in ("PR", "EX", "BR", "SYS")]
    return max(bounds)


def table() -> list[dict]:
    return [{"class": k, "latency": v[0], "per_cycle": round(v[1], 3), "pipes": v[2], "examples": v[3]}
            for k, v in CLASSES.items()]
