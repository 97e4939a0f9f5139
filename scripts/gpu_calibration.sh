#!/usr/bin/env bash
# Modelled vs measured energy on an NVIDIA GPU, in one short run (about a minute on an H100): a
# 3-level sharing sweep with an idle baseline, its HTML report, and a Markdown note with the line
# through the origin (J measured per modelled J, R^2) and every level's saving, modelled and
# measured, relative to sharing 0. Uses the machine's Python and this checkout on PYTHONPATH.
#   scripts/gpu_calibration.sh          -> $OUT/gpu_calibration.md (copy it to reports/), the run
#                                          directory and its report.html under $OUT/runs
# The workload (ResNet-20 at width 4 on digits' 8x8 images, 60 epochs) is sized so that a phase
# runs for about a second of GPU work: enough to lift the board well above its idle power, whose
# spread (std in the note) is the noise floor of every above-idle figure.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_verify_out}; mkdir -p "$OUT/runs"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
rm -rf "$OUT/runs/calibration_cuda"
run=(python3 -m energybench run --device cuda --method sharing,finetune,lucir --sharing 0,0.5,0.8
     --backbone resnet20 --width 4 --epochs 60 --idle-seconds 5 --report-format html --quiet
     --out "$OUT/runs" --run-id calibration_cuda)
nvidia-smi --query-gpu=index,name,uuid,driver_version,power.draw,power.limit --format=csv || true
"${run[@]}"
python3 scripts/calibration_note.py "$OUT/runs/calibration_cuda" --out "$OUT/gpu_calibration.md" \
    --command "${run[*]}"
cat "$OUT/gpu_calibration.md"
