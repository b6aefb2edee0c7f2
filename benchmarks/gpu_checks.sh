#!/usr/bin/env bash
# The ready script for issue #18's GPU checks on a lent machine, in one call: what a training step costs there —
# plain vs fused cross-entropy, torch.compile, bf16 autocast — on ML-1M (len 200) and Beauty (BERT4Rec file, 54 k
# items, len 50), and which ONNX Runtime providers the machine offers.
#   here:  python -m studies.library.train_library prepare --out .gpu/data    (.gpu/ is git-excluded, carried)
#   there: bash benchmarks/gpu_checks.sh                                       ($OUT/*.json and the log come back)
# Raw data never travel: only prepared (canonical) datasets do, and they are never committed.
set -u
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__)"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
    || echo "onnxruntime not installed"
for spec in "ml-1m 200" "beauty-bert4rec 50"; do
    set -- $spec
    timeout 240 python3 benchmarks/bench_step_cost.py --data ".gpu/data/$1" --max-len "$2" --steps 30 \
        --out "$OUT/bench_step_cost_gpu_$1.json" 2>&1 | tee -a "$OUT/gpu_checks.log" | grep -v Warning
done
ls -la "$OUT"
