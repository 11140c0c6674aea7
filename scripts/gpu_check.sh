#!/usr/bin/env bash
# GPU check (issue #13): ResNet-50 with a butterfly unit after layer2, trained with bf16
# autocast on SYNTHETIC 224x224 images (generated stripes, not a real dataset: no dataset
# can reach a lent GPU machine), then the bundle it builds, evaluated through real frames.
# Prints training images/s, peak GPU memory, and the bundle. Meant to take under 5 minutes
# on one CUDA GPU.
#
#   scripts/gpu_check.sh                               # CUDA, 8,192 images, 224 px
#   DEVICE=cpu IMAGES=32 SIZE=64 BATCH=8 WORKERS=0 scripts/gpu_check.sh   # CPU dry run
#
# Settings (environment): DEVICE (cuda | cuda:N | cpu), IMAGES (synthetic training
# images; the test split is a quarter), SIZE (pixels), BATCH, WORKERS, EPOCHS, OUT,
# EVAL_LIMIT (test images the bundle is evaluated on, one frame each, on the CPU).
# The backbone is randomly initialised (no download): the figures are about throughput
# and memory; the accuracy on synthetic stripes says nothing about real images.
set -euo pipefail

DEVICE=${DEVICE:-cuda}
IMAGES=${IMAGES:-8192}
SIZE=${SIZE:-224}
BATCH=${BATCH:-128}
WORKERS=${WORKERS:-8}
EPOCHS=${EPOCHS:-1}
OUT=${OUT:-runs/gpu-check}
EVAL_LIMIT=${EVAL_LIMIT:-256}
CLASSES=10
PYTHON=${PYTHON:-python}
SPLITINFER=${SPLITINFER:-splitinfer}

mkdir -p "$OUT"
start=$(date +%s)
echo "== gpu_check: resnet50 | layer2 | synthetic:$CLASSES,$IMAGES (SYNTHETIC images) at ${SIZE}px on $DEVICE"
"$PYTHON" - "$DEVICE" <<'PY'
import sys, torch
dev = sys.argv[1]
if dev.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"gpu_check: {dev} asked for, but torch {torch.__version__} sees no CUDA device")
    i = torch.device(dev).index or 0
    print(f"device: {torch.cuda.get_device_name(i)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
else:
    print(f"device: cpu (dry run), torch {torch.__version__}")
PY
"$PYTHON" - "$OUT/backbone.safetensors" "$CLASSES" <<'PY'
import sys, torch
from safetensors.torch import save_file
from splitinfer import zoo
torch.manual_seed(0)
model = zoo.create("resnet50", num_classes=int(sys.argv[2]))
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1])
PY

"$SPLITINFER" train units --model resnet50 --weights "$OUT/backbone.safetensors" \
  --cut layer2 --channels 4 --stride 2 --depth 2 \
  --codec "learned:levels=4,tables=channel" --rate-lambda 0.0005 --optimizer adam --lr 0.001 \
  --data "synthetic:$CLASSES,$IMAGES" --image-size "$SIZE" --device "$DEVICE" --amp \
  --workers "$WORKERS" --batch-size "$BATCH" --epochs "$EPOCHS" \
  --out "$OUT/units" --bundle "$OUT/bundle" --bundle-id gpu-check-resnet50-layer2

"$SPLITINFER" train evaluate --bundle "$OUT/bundle" --data "synthetic:$CLASSES,$IMAGES" \
  --workers "$WORKERS" --limit "$EVAL_LIMIT" --json "$OUT/evaluate.json"

"$PYTHON" - "$OUT" "$start" <<'PY'
import json, sys, time
out, start = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{out}/units/results.json"))
e = json.load(open(f"{out}/evaluate.json"))
print("== gpu_check results (SYNTHETIC data)")
print(f"training images/s:   {m.get('train_images_per_second')}")
peak = m.get("peak_gpu_memory_mib")
print(f"peak GPU memory:     {f'{peak} MiB' if peak is not None else 'n/a (not CUDA)'}")
print(f"bundle:              {out}/bundle (mean frame {e['mean_frame_bytes']:.1f} B, payload "
      f"{e['mean_payload_bytes']:.1f} B, top-1 {100 * e['accuracy']:.1f}% on {e['images']} "
      "synthetic test images)")
print(f"wall time:           {time.time() - start:.0f} s")
PY
