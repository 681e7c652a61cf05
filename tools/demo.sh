#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, makes a small synthetic dataset and
# runs what detkit can do so far, printing each step. Output goes to ./demo_out.
# (Training, testing and drawing detections join this script with the model issues; until then
# it shows the host, the plugins, the config system, the data pipeline and the evaluator.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. dependencies (Debian packages; only the missing ones are installed)"
tools/install_deps.sh --with-python
step "2. build (cmake, 2 jobs)"
tools/build.sh --target detkit --target detkit_plugins
detkit=${DETKIT_BUILD_DIR:-build}/bin/detkit
out=demo_out
mkdir -p "$out"

step "3. plugins found: every file LOADED / REJECTED / SHADOWED, and the built-in components"
"$detkit" plugins list
step "4. a component's parameters, from its schema"
"$detkit" plugins describe FocalLoss

step "5. a synthetic dataset (COCO format): shapes of 4 classes on textured backgrounds"
"$detkit" data synth --out "$out/data" --num-train 64 --num-val 16 --classes 4 --seed 0

step "6. the config: _base_ merged, every value with the file:line:col it came from"
"$detkit" config print configs/demo/synth_coco.yaml --cfg-options data.samples_per_gpu=2 > "$out/config.txt"
head -32 "$out/config.txt"
echo "  ... (whole config in $out/config.txt)"
step "7. the config checked against the registered components (types and parameters)"
"$detkit" config check configs/demo/synth_coco.yaml
step "   ... and a mistake, caught with its location and a suggestion"
printf '_base_: ../configs/demo/synth_coco.yaml\ndata:\n  train: {pipeline: [{type: Resize, img_scale: [320, 320], keep_ration: true}]}\n' > "$out/typo.yaml"
"$detkit" config check "$out/typo.yaml" || true

step "8. losses computed through the losses plugin, timed beside PyTorch/torchvision"
"$detkit" benchmark losses --num 20000 --repeat 3

step "9. the COCO training pipeline through the multi-threaded loader (images/s)"
"$detkit" benchmark loader --data "$out/data/annotations/train.json" \
  --img-prefix "$out/data/train" --images 64

step "9b. a RetinaNet (ResNet-50 + FPN + RetinaHead, from the plugins): init records in MMCV's words"
"$detkit" model configs/retinanet/retinanet_r50_fpn_torchvision.yaml > "$out/model.txt"
head -8 "$out/model.txt"
echo "  ..."
tail -4 "$out/model.txt"
echo "  (whole list in $out/model.txt)"

step "10. COCO evaluation, pycocotools' numbers (on a reference case: no detector exists yet)"
"$detkit" eval coco tests/data/coco_eval/case_001/gt.json tests/data/coco_eval/case_001/dets.json \
  --json "$out/eval.json"

step "done: outputs in $out/"
