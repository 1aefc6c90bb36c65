#!/usr/bin/env bash
# Fuzzes the OpenDSS reader (libFuzzer via cargo-fuzz) for a few seconds.
# Usage: scripts/fuzz.sh [SECONDS]   (default 20)
# Seeds: our built-in feeder scripts. A crash fails the run and leaves the input
# in fuzz/artifacts/read_script/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
cd "$root"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi
corpus="fuzz/corpus/read_script"
mkdir -p "$corpus"
for f in crates/grid/feeders/*/*.dss; do
  cp "$f" "$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
done
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
RUSTC_BOOTSTRAP=1 cargo fuzz run read_script "$corpus" -- \
  -max_total_time="$seconds" -dict=fuzz/read_script.dict -max_len=4096 -print_final_stats=1
