#!/usr/bin/env bash
# Runs every test of OpenGridGym: Rust (unit, integration, reader fuzzing) and
# Python (bindings, live comparison with OpenDSS, market vs CVXPY).
# Sets up what it needs itself: a virtualenv in .venv with the Python test
# dependencies (OpenDSS via dss-python, CVXPY, Clarabel) and the package built
# in place with maturin. Safe to run again; later runs reuse the build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "Python environment (.venv)"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-test.txt

step "Rust tests (cargo test --workspace)"
cargo test --workspace --exclude ogg-python

step "Python package (maturin develop)"
.venv/bin/maturin develop --quiet

step "Python tests (pytest)"
OGG_BIN="$root/target/debug/ogg" .venv/bin/python -m pytest -q tests/python

if [ -x scripts/fuzz.sh ]; then
  step "Fuzzing the OpenDSS reader (short run)"
  bash scripts/fuzz.sh 20
fi
step "All tests passed"
