#!/usr/bin/env bash
# Install everything the x2sve tests need on a fresh Debian 12 machine, then run them.
#
#   bash tools/setup_and_test.sh [PYTEST ARGS...]
#
# Idempotent: apt packages already present are not reinstalled, `pip install -e .[test]` is cheap
# when nothing changed. Works as root without sudo; as another user it uses sudo if there is one.
# Without apt (no network, not Debian, no root) it carries on, says which tools are missing, and
# the tests that need them are reported as skipped in pytest's summary (-rs).
# Environment: PYTHON (default python3, must be >= 3.10), X2SVE_SKIP_APT=1, X2SVE_SKIP_PIP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(qemu-user-static binutils binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu llvm
              bochs bochsbios vgabios bochs-term bsdutils)
# tool -> what needs it (printed when missing)
TOOLS=("qemu-aarch64-static:running translated A64/SVE code (verify, qemu executor)"
       "aarch64-linux-gnu-gcc:building the qemu test host"
       "aarch64-linux-gnu-as:checking asm output against GNU as"
       "llvm-mc:cross-checking the A64 encoder"
       "as:assembling x86 test instructions"
       "bochs:AVX-512 oracle on hosts without AVX-512"
       "script:driving bochs")

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ]; then SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n)
else SUDO=(); NO_ROOT=1; fi

missing_pkgs=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing_pkgs+=("$p")
  done
else
  missing_pkgs=("${APT_PACKAGES[@]}")
fi

if [ "${X2SVE_SKIP_APT:-0}" = 1 ]; then
  log "X2SVE_SKIP_APT=1: not installing apt packages"
elif [ ${#missing_pkgs[@]} -eq 0 ]; then
  log "apt packages already installed"
elif ! command -v apt-get >/dev/null 2>&1; then
  log "WARNING: no apt-get here; not installed: ${missing_pkgs[*]}"
elif [ "${NO_ROOT:-0}" = 1 ]; then
  log "WARNING: not root and no usable sudo; not installed: ${missing_pkgs[*]}"
else
  log "installing: ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"; }; then
    log "WARNING: apt-get failed (no network?); carrying on without: ${missing_pkgs[*]}"
  fi
fi

"$PYTHON" - <<'PY' || { log "ERROR: x2sve needs Python >= 3.10 (set PYTHON=...)"; exit 2; }
import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

if [ "${X2SVE_SKIP_PIP:-0}" = 1 ]; then
  log "X2SVE_SKIP_PIP=1: not running pip"
else
  log "pip install -e .[test]"
  if ! "$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"; then
    log "ERROR: pip install -e .[test] failed"
    exit 2
  fi
fi

absent=0
for t in "${TOOLS[@]}"; do
  name="${t%%:*}"
  if ! command -v "$name" >/dev/null 2>&1; then
    log "MISSING: $name (${t#*:}); the tests that need it will be SKIPPED"
    absent=$((absent + 1))
  fi
done
[ "$absent" = 0 ] && log "all external tools present"

# There must be tests to run: exit 5 (no tests collected) would hide a broken checkout.
shopt -s nullglob
test_files=(tests/test_*.py)
shopt -u nullglob
if [ ${#test_files[@]} = 0 ]; then log "ERROR: no tests/test_*.py found"; exit 2; fi

log "$PYTHON -m pytest -q -rs $*"
set +e
"$PYTHON" -m pytest -q -rs "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then log "ERROR: pytest collected no tests"; exit 2; fi
exit "$rc"
