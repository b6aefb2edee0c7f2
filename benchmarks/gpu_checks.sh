#!/usr/bin/env bash
# The ready script for the recipe checks on a lent GPU machine.
#   here:  python -m srlaw.library.train prepare --out .gpu/data    (.gpu/ is git-excluded, carried)
#   there: bash benchmarks/gpu_checks.sh steps      what a training step costs there, alone on the machine — plain vs
#                                                   fused cross-entropy, torch.compile, bf16 autocast — on ML-1M
#                                                   (len 200) and Beauty (BERT4Rec file, 54 k items, len 50) at
#                                                   2 x 64, Beauty at the grid's wide end (4 x 256), and which ONNX
#                                                   Runtime providers the machine offers
#          bash benchmarks/gpu_checks.sh ttq SECONDS   time to quality on ML-1M: today's default recipe and the one
#                                                   without attention-probability dropout, seeds 42 and 43, four
#                                                   runs side by side (their seconds share the machine: epochs are
#                                                   the measurement); $OUT/ttq_runs.tar.gz comes back
#          bash benchmarks/gpu_checks.sh recjpq SECONDS   the RecJPQ benchmark runs (every dataset × setting ×
#                                                   seed at once, each capped at SECONDS); the prepared data travel
#                                                   in .gpu/recjpq/<dataset>/data; $OUT/recjpq_runs.tar.gz comes back
#   here:  tar xzf recjpq_runs.tar.gz -C benchmarks/runs/recjpq_gpu && python benchmarks/bench_recjpq.py \
#              --runs benchmarks/runs/recjpq_gpu --finished-only ...      (speed measured here, side by side)
#   here:  tar xzf ttq_runs.tar.gz -C benchmarks/runs/time_to_quality_gpu && python benchmarks/bench_time_to_quality.py \
#              --runs benchmarks/runs/time_to_quality_gpu --report-only ... --out benchmarks/results/...
# Raw data never travel: only prepared (canonical) datasets do, and they are never committed.
set -u
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
case "${1:-steps}" in
steps)
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
      python3 -c "import torch; print('torch', torch.__version__)"
      python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
          || echo "onnxruntime not installed"; } 2>&1 | tee -a "$OUT/gpu_checks.log"
    # SPECS="dataset max_len layers width; ..." narrows or widens the sizes; NO_COMPILE=1 skips torch.compile
    IFS=';' read -ra specs <<<"${SPECS:-ml-1m 200 2 64;beauty-bert4rec 50 2 64;beauty-bert4rec 50 4 256}"
    for spec in "${specs[@]}"; do
        set -- $spec
        name="$1"; [ "$3x$4" = 2x64 ] || name="$1_$3x$4"
        timeout "${STEP_TIMEOUT:-120}" python3 benchmarks/bench_step_cost.py --data ".gpu/data/$1" --max-len "$2" \
            --n-layers "$3" --d-model "$4" --steps 30 ${NO_COMPILE:+--no-compile} --out "$OUT/bench_step_cost_gpu_$name.json" 2>&1 \
            | tee -a "$OUT/gpu_checks.log" | grep -v Warning
    done ;;
ttq)
    runs=/tmp/ttq; mkdir -p "$runs/data"; cp -r .gpu/data/ml-1m "$runs/data/ml-1m"
    for seed in 42 43; do
        for recipe in sasrec+lr3e-3+warmup default-attn-dropout; do
            OMP_NUM_THREADS=2 timeout "${2:-300}" python3 benchmarks/bench_time_to_quality.py --runs "$runs" \
                --datasets ml-1m --recipes "$recipe" --seeds "$seed" --max-epochs 150 \
                --out "$runs/$recipe-s$seed.json" >"$runs/$recipe-s$seed.log" 2>&1 &
        done
    done
    wait
    tail -n 3 "$runs"/*.log
    tar czf "$OUT/ttq_runs.tar.gz" -C "$runs" --exclude=checkpoints --exclude=data ml-1m ;;
recjpq)
    runs=/tmp/recjpq; mkdir -p "$runs"; cp -r .gpu/recjpq/. "$runs/"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    timeout $(( ${2:-470} + 100 )) python3 benchmarks/bench_recjpq.py --runs "$runs" --workers "${WORKERS:-18}" \
        --deadline-s "${2:-470}" --datasets ${DATASETS:-beauty ml-1m} --seeds ${SEEDS:-42 43} --step-rounds 0 \
        --settings ${RECJPQ_SETTINGS:-full full-d32 jpq-8x256 jpq-8x2048 jpq-4x4096 jpq-d128-4x2048} \
        --latency-repeats 0 --out "$OUT/bench_recjpq_gpu.json" 2>&1 | grep -v -E 'Warning|warn\(|^epoch ' \
        | tee "$OUT/recjpq.log"
    tar czf "$OUT/recjpq_runs.tar.gz" -C "$runs" --exclude=checkpoints --exclude=data --exclude=model.onnx . ;;
*) echo "usage: gpu_checks.sh [steps | ttq SECONDS | recjpq SECONDS]" >&2; exit 2 ;;
esac
