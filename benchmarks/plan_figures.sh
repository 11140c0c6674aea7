#!/usr/bin/env bash
# Regenerate the planner figures and tables in docs/figures/ (modeled numbers).
#   bash benchmarks/plan_figures.sh            # profiles resnet50 here first (~2 min)
# The ResNet-50 profile is measured on this machine (torch's default threads, median of
# 10 runs after 3 warm-up); delete docs/figures/profile-resnet50.json to re-measure.
# The paper-assumed rate points are docs/figures/resnet50-paper-assumed-rates.json.
set -euo pipefail
cd "$(dirname "$0")/.."
si=.venv/bin/splitinfer
out=docs/figures
profile=$out/profile-resnet50.json
[ -s "$profile" ] || $si profile resnet50 --json "$profile"
for link in 3g 4g wifi; do
  for mode in realistic seed; do
    $si plan "$profile" --link $link --device phone --server gpu --mode $mode --top 5 \
      --json "$out/plan-resnet50-phone-$link-$mode.json"
    $si plan "$profile" --rates $out/resnet50-paper-assumed-rates.json --budget 2 \
      --link $link --device jetson-tx2 --server gpu --mode $mode --top 5 \
      --json "$out/plan-resnet50-tx2-$link-$mode-paper.json"
  done
done
$si plan "$profile" --link 4g --device jetson-tx2 --server gpu \
  --sweep-bandwidth 0.1:100 --png $out/plan-sweep-resnet50-tx2-4g.png
$si plan "$profile" --rates $out/resnet50-paper-assumed-rates.json --budget 2 --link 4g \
  --device phone --server gpu --sweep-bandwidth 0.1:100 \
  --png $out/plan-sweep-resnet50-phone-4g-paper.png

# The Fashion-MNIST bundle shipped in bundles/: its measured rate point vs the baselines.
fprofile=$out/profile-fmnist_resnet.json
[ -s "$fprofile" ] || $si profile fmnist_resnet --json "$fprofile"
for link in 3g 4g wifi; do
  for mode in realistic seed; do
    $si plan "$fprofile" --rates $out/ratepoints-fmnist-stage2-c2.json --budget 5 \
      --link $link --device phone --server host --mode $mode \
      --json "$out/plan-fmnist-phone-$link-$mode.json"
  done
done
