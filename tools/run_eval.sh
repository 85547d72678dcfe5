#!/usr/bin/env bash
# Evaluates the whole pipeline on the eval-dev pictures and prints the Markdown report.
#
#   bash tools/run_eval.sh [BUILD [SHARED]] [-- example_annotate options...]
#     BUILD   a build folder with example_annotate and weights/ (default: build)
#     SHARED  the shared folder holding data/eval-dev/ (default: ../shared)
#   e.g. bash tools/run_eval.sh build ../shared
#        bash tools/run_eval.sh build ../shared -- --classifier other.fmb --scale native
#
# For every source folder in SHARED/data/eval-dev it runs example_annotate with its default
# settings except --conf 0.02, so that the AP sees the whole precision/recall curve;
# tools/evaluate.py then counts only faces with score > 0.5 (the engine's default threshold) as
# identified, which gives exactly what a default run finds. Writes BUILD/eval/<source>.jsonl,
# BUILD/eval/report.md and BUILD/eval/roc.png, and prints the report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="build"
shared="$here/../../shared"
if [[ $# -gt 0 && "$1" != "--" ]]; then build="$1"; shift; fi
if [[ $# -gt 0 && "$1" != "--" ]]; then shared="$1"; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi
extra=("$@")

exe="$build/example_annotate"
data="$shared/data/eval-dev"
[[ -x "$exe" ]] || { echo "run_eval.sh: no $exe (build the project first)" >&2; exit 1; }
[[ -d "$data" ]] || { echo "run_eval.sh: no $data (give the shared folder as the second argument)" >&2; exit 1; }
out="$build/eval"
mkdir -p "$out"

preds=()
for src in "$data"/*/; do
  src="${src%/}"
  [[ -f "$src/annotations.csv" ]] || continue
  name="$(basename "$src")"
  echo "run_eval.sh: $name" >&2
  "$exe" --no-draw --quiet --conf 0.02 "${extra[@]}" --json "$out/$name.jsonl" "$src/images"
  preds+=(--pred "$out/$name.jsonl")
done
[[ ${#preds[@]} -gt 0 ]] || { echo "run_eval.sh: no source folder with annotations.csv in $data" >&2; exit 1; }

python3 "$here/evaluate.py" --data "$data" "${preds[@]}" --conf 0.5 --markdown --roc "$out/roc.png" \
  | tee "$out/report.md"
echo "run_eval.sh: report $out/report.md, ROC curve $out/roc.png" >&2
