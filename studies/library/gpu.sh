#!/usr/bin/env bash
# The ready script for a lent GPU machine: train the law library's runs there in one call and bring them back.
#   here:  python -m studies.library.train_library prepare --out .gpu/data     (.gpu/ is git-excluded, carried)
#   there: bash studies/library/gpu.sh [deadline seconds, default 470]          ($OUT/store.tar.gz comes back)
#   here:  tar xzf store.tar.gz -C .gpu/store && python -m studies.library.train_library collect \
#              --store .gpu/store --data .gpu/data
# Raw data never travel: only the prepared (canonical) variants do, and they are never committed.
set -u
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)"
# runs already gathered here (a carried .gpu/store) are skipped there; ONLY="variant ..." narrows the plan (most
# needed first), GRID_ONLY=1 leaves the extra seeds out
mkdir -p /tmp/store; [ -d .gpu/store/runs ] && cp -r .gpu/store/runs /tmp/store/
timeout $(( ${1:-470} + 90 )) python3 -m studies.library.train_library train --data .gpu/data --store /tmp/store \
    --workers "${WORKERS:-12}" --deadline-s "${1:-470}" --grace-s "${GRACE:-60}" ${ONLY:+--only $ONLY} ${GRID_ONLY:+--grid-only} \
    >"$OUT/train.log" 2>&1
echo "train exit $?"
tar czf "$OUT/store.tar.gz" -C /tmp/store --exclude=checkpoints runs
grep -v '^epoch ' "$OUT/train.log" | tail -120
ls -la "$OUT"
