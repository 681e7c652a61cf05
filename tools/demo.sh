#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, makes a small synthetic dataset,
# trains the demo RetinaNet on CPU, evaluates it, draws detections, plots the training loss and
# the LR schedule, and finetunes the model on new classes. Outputs go to ./demo_out (replaced on
# each run: the demo owns that folder and refuses one it did not make).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
step() { printf '\n\033[1m== %s\033[0m  (%ds)\n' "$*" "$((SECONDS - demo_start))"; }
demo_start=$SECONDS

step "1. dependencies (Debian packages; only the missing ones are installed)"
tools/install_deps.sh --with-python
step "2. build (cmake, ${DETKIT_JOBS:-2} jobs)"
tools/build.sh --target detkit --target detkit_plugins
detkit=${DETKIT_BUILD_DIR:-build}/bin/detkit
out=demo_out
if [[ -e "$out" && ! -f "$out/.detkit-demo" ]]; then
  echo "demo: $out exists and was not made by the demo; move it away first" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
touch "$out/.detkit-demo"
build_done=$SECONDS

step "3. plugins found (LOADED / REJECTED / SHADOWED) and the config, checked against them"
"$detkit" plugins list
"$detkit" config check configs/demo/retinanet_r18_fpn_synth.yaml

step "4. a synthetic dataset (COCO format): 4 shape classes on textured backgrounds, 320x240"
"$detkit" data synth --out "$out/data" --num-train 400 --num-val 50 --classes 4 --seed 0

step "5. train the demo RetinaNet (ResNet-18 + FPN, from scratch, CPU)"
"$detkit" train configs/demo/retinanet_r18_fpn_synth.yaml --work-dir "$out/retinanet"

step "6. test: COCO bbox metrics on the validation split, detections as JSON, drawings"
"$detkit" test configs/demo/retinanet_r18_fpn_synth.yaml "$out/retinanet/latest.pth" \
  --eval bbox --out "$out/retinanet/results.json" --show-dir "$out/retinanet/show" \
  --show-score-thr 0.5

step "7. infer on a few validation images (one JSON and one drawing per image)"
mkdir -p "$out/some_val"
for f in $(ls "$out/data/val" | head -4); do cp "$out/data/val/$f" "$out/some_val/"; done
"$detkit" infer configs/demo/retinanet_r18_fpn_synth.yaml "$out/retinanet/latest.pth" \
  "$out/some_val" --out-dir "$out/infer" --device cpu

step "8. training curves: loss and learning rate (PNG)"
log=$(ls "$out"/retinanet/*.log.json | head -1)
"$detkit" analyze-logs plot_curve "$log" --keys loss loss_cls loss_bbox --title "demo RetinaNet: training loss" \
  --out "$out/loss.png"
"$detkit" analyze-logs plot_curve "$log" --keys lr --title "demo RetinaNet: learning rate" \
  --out "$out/lr.png"

step "9. finetune on new classes: load_from the demo model, a 2-class head re-initialised"
"$detkit" data synth --out "$out/data6" --num-train 150 --num-val 30 --classes 6 --seed 1
"$detkit" train configs/demo/retinanet_r18_fpn_synth_finetune.yaml --work-dir "$out/finetune"
"$detkit" test configs/demo/retinanet_r18_fpn_synth_finetune.yaml "$out/finetune/latest.pth" \
  --eval bbox

step "done in $((SECONDS - demo_start)) s ($((SECONDS - build_done)) s after the build): outputs in $out/"
ls "$out" "$out/retinanet" | sed 's/^/  /'
