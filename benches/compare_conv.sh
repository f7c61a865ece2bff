#!/usr/bin/env bash
# The accumulation kernels against PyTorch fbgemm, one thread, interleaved:
# each round runs PyTorch (native, then FBGEMM_ENABLE_INSTRUCTIONS=AVX2 in a
# fresh process), then the Rust benchmarks (benches/paths.rs) twice: with the
# fastest exact kernel of this CPU, and with QCONV_PAIR_ISA=avx2 (the AVX2
# kernel, rows `..._vnni` renamed `..._vnni@avx2`, same bits). Then it prints,
# per case, the median over rounds of each side's median and the ratio
# torch / rust (>= 1: Rust is at least as fast).
#
# usage: benches/compare_conv.sh [rounds=3] [torch runs per case=100] [ids]
#        ids: comma-separated case ids of benches/paths.rs (default: the convs below)
# env:   PYTHON (default /work/venv-torch/bin/python, a venv with torch + numpy)
#        CARGO_TARGET_DIR (criterion writes its estimates under it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
RUNS=${2:-100}
IDS=${3:-fbgemm_8to8_256_vnni,fbgemm_8to8_256_avx2,fbgemm_resnet_vnni,fbgemm_resnet_avx2,fbgemm_16to16_512_vnni,fbgemm_16to16_512_avx2,fbgemm_groupwise_vnni,fbgemm_pointwise_vnni}
PY=${PYTHON:-/work/venv-torch/bin/python}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=$(mktemp -d)
FILTER="^paths/($(echo "$IDS" | tr , '|'))\$"
VNNI_FILTER="^paths/($(echo "$IDS" | tr , '\n' | grep '_vnni$' | paste -sd '|'))\$"
cargo bench --bench paths --no-run 2>/dev/null
estimates() { # suffix: criterion's medians of the ids just run
  for id in $(echo "$IDS" | tr , ' '); do
    f="$TARGET/criterion/paths/$id/new/estimates.json"
    [ -f "$f" ] && [ "$f" -nt "$OUT/stamp" ] || continue
    echo "$id$1 $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e9)' "$f")"
  done
}
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: torch" >&2
  "$PY" benches/torch_paths.py --runs "$RUNS" --only "$IDS" >"$OUT/torch.$r" 2>>"$OUT/torch.log"
  FBGEMM_ENABLE_INSTRUCTIONS=AVX2 "$PY" benches/torch_paths.py --runs "$RUNS" --only "$IDS" >>"$OUT/torch.$r" 2>>"$OUT/torch.log"
  echo "round $r/$ROUNDS: rust" >&2
  touch "$OUT/stamp"; sleep 1
  cargo bench --bench paths -- --noplot "$FILTER" >"$OUT/rust.log.$r" 2>&1
  estimates "" >"$OUT/rust.$r"
  touch "$OUT/stamp"; sleep 1
  QCONV_PAIR_ISA=avx2 cargo bench --bench paths -- --noplot "$VNNI_FILTER" >>"$OUT/rust.log.$r" 2>&1
  estimates "@avx2" >>"$OUT/rust.$r"
done
tail -2 "$OUT/torch.log" >&2
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
print("| case | rust median ms (rounds) | torch median ms (rounds) | torch / rust |")
print("| --- | --- | --- | --- |")
src = open("benches/paths.rs").read()
for id in sorted(rust, key=lambda i: (src.find(f'"{i.split("@")[0]}"'), i)):
    t = torch.get(id.split("@")[0])
    if not t:
        continue
    rm, tm = statistics.median(rust[id]), statistics.median(t)
    print(f"| {id} | {ms(rm)} ({', '.join(ms(v) for v in rust[id])}) "
          f"| {ms(tm)} ({', '.join(ms(v) for v in t)}) | {tm / rm:.2f} |")
PY
echo "raw results: $OUT" >&2
