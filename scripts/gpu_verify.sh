#!/usr/bin/env bash
# Verify the CUDA and NVML paths on a machine with an NVIDIA GPU, using the machine's own
# Python (PyTorch, nvidia-ml-py, ...) and this checkout on PYTHONPATH. Writes logs and the
# run directories (as runs.tar.gz) to $OUT (default ./gpu_verify_out).
#   scripts/gpu_verify.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_verify_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
log="$OUT/verify.log"
step() { echo "=== $* ($(date +%T))" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; echo "=== exit ${PIPESTATUS[0]}" | tee -a "$log"; }

step nvidia-smi --query-gpu=index,name,uuid,driver_version,power.draw,power.limit --format=csv
step python3 -c "import torch, torchvision, pynvml; pynvml.nvmlInit(); print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'driver', pynvml.nvmlSystemGetDriverVersion())"
step python3 -m energybench power --device cuda:0 --duration 3
step python3 -m energybench power --device cuda:0 --duration 3 --json
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
CUDA_VISIBLE_DEVICES=$uuid step python3 -m energybench power --device cuda:0 --duration 1 --json
CUDA_VISIBLE_DEVICES=1 step python3 -m energybench power --device cuda:0 --duration 1
step python3 -m energybench run --device cuda --method finetune --epochs 1 --train-per-class 20 --no-report \
    --idle-seconds 2 --out "$OUT/runs" --run-id finetune_cuda
step python3 -m energybench run --device cuda --method sharing,lucir --sharing 0,0.5,0.8 --epochs 3 \
    --report-format html --out "$OUT/runs" --run-id sweep_cuda
step env OUT="$OUT" scripts/gpu_calibration.sh  # modelled vs measured: $OUT/gpu_calibration.md for reports/
step python3 benchmarks/cuda_count_parity.py --models tiny_cnn,lenet,nin,resnet20,resnet18,tiny_vit,swin_t
step python3 benchmarks/counting_overhead.py --device cuda --backbone resnet20 --batch-size 128 --repeats 10
step python3 benchmarks/nvml_counter_probe.py --seconds 1
step python3 benchmarks/sampler_overhead.py --device cuda --seconds 10
step python3 -m pytest -q -p no:cacheprovider tests/power/test_gpu.py tests/power/test_monitor.py tests/power/test_nvml.py \
    tests/power/test_power_cli.py tests/test_cli.py
tar czf "$OUT/runs.tar.gz" -C "$OUT" runs && rm -rf "$OUT/runs"
