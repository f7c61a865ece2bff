#!/usr/bin/env bash
# Rust (benches/paths.rs) against PyTorch (benches/torch_paths.py), interleaved:
# each round runs PyTorch (native, then FBGEMM_ENABLE_INSTRUCTIONS=AVX2 in a
# fresh process), then the Rust benchmarks; then it prints, per case, the median
# over rounds of each side's median, and rust / torch.
#
# usage: benches/compare_paths.sh [rounds=3] [torch runs per case=100]
# env:   PYTHON (default /work/venv-torch/bin/python, a venv with torch + numpy)
#        CARGO_TARGET_DIR (criterion writes its estimates under it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
RUNS=${2:-100}
PY=${PYTHON:-/work/venv-torch/bin/python}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=$(mktemp -d)
cargo bench --bench paths --no-run 2>/dev/null
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: torch" >&2
  "$PY" benches/torch_paths.py --runs "$RUNS" >"$OUT/torch.$r" 2>>"$OUT/torch.log"
  FBGEMM_ENABLE_INSTRUCTIONS=AVX2 "$PY" benches/torch_paths.py --runs "$RUNS" >>"$OUT/torch.$r" 2>>"$OUT/torch.log"
  echo "round $r/$ROUNDS: rust" >&2
  cargo bench --bench paths -- --noplot >"$OUT/rust.log.$r" 2>&1
  for f in "$TARGET"/criterion/paths/*/new/estimates.json; do
    id=$(basename "$(dirname "$(dirname "$f")")")
    echo "$id $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e9)' "$f")"
  done >"$OUT/rust.$r"
done
tail -1 "$OUT/torch.log" >&2
python3 - "$OUT" "$ROUNDS" <<'PY'
import statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(kind):
    d = {}
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{kind}.{r}"):
            if line.strip() and not line.startswith("#"):
                id, t = line.split()[:2]
                d.setdefault(id, []).append(float(t))
    return d
rust, torch = load("rust"), load("torch")
ms = lambda v: f"{v * 1e3:.3f}"
print(f"| case | rust median ms (rounds) | torch median ms (rounds) | rust / torch |")
print("| --- | --- | --- | --- |")
src = open("benches/paths.rs").read()
for id in sorted((i for i in torch if i in rust), key=lambda i: src.find(f'"{i}"')):
    rm, tm = statistics.median(rust[id]), statistics.median(torch[id])
    print(f"| {id} | {ms(rm)} ({', '.join(ms(v) for v in rust[id])}) "
          f"| {ms(tm)} ({', '.join(ms(v) for v in torch[id])}) | {rm / tm:.2f} |")
PY
echo "raw results: $OUT" >&2
