#!/usr/bin/env bash
# The ready script for a lent GPU machine: train the law library's runs there in one call and bring them back.
#   here:  python -m srlaw.library.train prepare --out .gpu/data     (.gpu/ is git-excluded, carried)
#   there: bash library/gpu.sh [deadline seconds, default 470]          ($OUT/store.tar.gz comes back)
#   here:  tar xzf store.tar.gz -C .gpu/store && python -m srlaw.library.train collect \
#              --store .gpu/store --data .gpu/data
# Raw data never travel: only the prepared (canonical) variants do, and they are never committed.
set -u
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)"
# runs already gathered here (a carried .gpu/store) are skipped there. Default: one job over the whole plan
# (ONLY="variant ..." narrows it, most needed first; GRID_ONLY=1 leaves the extra seeds out). Arguments after the
# deadline are jobs run side by side on the one GPU, each its own train arguments with its own --workers, e.g.
#   bash library/gpu.sh 470 "--workers 8 --only sports-s3rec --seeds-only --configs 4x128 2x256" \
#                                   "--workers 2 --only ml-1m --configs 4x128 --seeds 3 4"
mkdir -p /tmp/store; [ -d .gpu/store/runs ] && cp -r .gpu/store/runs /tmp/store/
touch /tmp/store.stamp  # only runs (re)trained after this come back: a carried stale attempt never overwrites one
DEADLINE="${1:-470}"; shift || true
[ $# -gt 0 ] || set -- "--workers ${WORKERS:-12} ${ONLY:+--only $ONLY} ${GRID_ONLY:+--grid-only}"
i=0
for job in "$@"; do
    i=$((i + 1))
    # shellcheck disable=SC2086  # a job is a word list of train arguments
    timeout $(( DEADLINE + 90 )) python3 -m srlaw.library.train train --data .gpu/data --store /tmp/store \
        --deadline-s "$DEADLINE" --grace-s "${GRACE:-60}" $job >"$OUT/train-$i.log" 2>&1 &
done
wait
echo "train jobs done"
(cd /tmp/store && find runs -mindepth 2 -maxdepth 2 -type d -newer /tmp/store.stamp) >/tmp/trained.txt
tar czf "$OUT/store.tar.gz" -C /tmp/store --exclude=checkpoints -T /tmp/trained.txt
echo "$(wc -l </tmp/trained.txt) runs come back"
for f in "$OUT"/train-*.log; do echo "== $f"; grep -v '^epoch ' "$f" | tail -60; done
ls -la "$OUT"
