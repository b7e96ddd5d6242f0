#!/usr/bin/env bash
# Ingest throughput and KPI latency on an object-store lake against the local lake, same data.
#
#   scripts/object_lake_bench.sh [EVENTS] [WORK_DIR]      (defaults: 1000000, /tmp/ztlens-s3-bench)
#
# Uses target/release/ztlens (cargo build --release) and moto's S3 server from PyPI
# (pip install "moto[server]"), started here on loopback. moto is a single-threaded Python
# server, not AWS: the S3 figures show what ztlens adds on top of the store plus moto's own cost,
# an upper bound on the overhead, not S3's latency. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
work=${2:-/tmp/ztlens-s3-bench}
ztlens=$PWD/target/release/ztlens
[ -x "$ztlens" ] || { echo "build first: cargo build --release" >&2; exit 1; }
python3 -c "import moto.server" 2>/dev/null || { echo "pip install \"moto[server]\"" >&2; exit 1; }

mkdir -p "$work"
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$port" >moto.log 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null' EXIT
until curl -fs "http://127.0.0.1:$port/" >/dev/null; do sleep 0.2; done
curl -fs -X PUT "http://127.0.0.1:$port/ztlens-bench" >/dev/null

[ -f "gen-$events/truth.json" ] || "$ztlens" gen --seed 1 --events "$events" --out "gen-$events" >/dev/null
gen=$PWD/gen-$events
from=$(python3 -c "import json; print(json.load(open('$gen/truth.json'))['from'])")
to=$(python3 -c "import json; print(json.load(open('$gen/truth.json'))['to'])")
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
s3_env=(ZTLENS_LAKE__URL=s3://ztlens-bench/lake "ZTLENS_LAKE__S3_ENDPOINT=http://127.0.0.1:$port"
    ZTLENS_LAKE__S3_ALLOW_HTTP=true ZTLENS_LAKE__S3_REGION=us-east-1)

seconds() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.2f}')" "$1"; }

for lake in local s3; do
    rm -rf "disk-$lake"
    env_args=()
    [ "$lake" = s3 ] && env_args=("${s3_env[@]}")
    records=0
    start=$(python3 -c 'import time; print(time.time())')
    for dir in "$gen"/*/; do
        source=$(basename "$dir")
        [ "$source" = inventory ] && continue
        out=$(env "${env_args[@]}" "$ztlens" --config "$gen/ztlens.toml" --data-dir "disk-$lake" \
            ingest --source "$source" "$dir" 2>&1)
        n=$(sed -n 's/^ingested .*: \([0-9]*\) records.*/\1/p' <<<"$out")
        records=$((records + ${n:-0}))
    done
    took=$(seconds "$start")
    echo "$lake ingest: $records records in $took s ($(python3 -c "print(round($records/$took))") records/s, one process per source)"
    start=$(python3 -c 'import time; print(time.time())')
    env "${env_args[@]}" ZTLENS_LAKE__RETENTION_DAYS=0 ZTLENS_LAKE__COMPACTION_GRACE_SECS=0 \
        "$ztlens" --config "$gen/ztlens.toml" --data-dir "disk-$lake" maintain \
        >/dev/null 2>&1 </dev/null || true
    echo "$lake compaction: $(seconds "$start") s"
    for run in 1 2 3; do
        start=$(python3 -c 'import time; print(time.time())')
        env "${env_args[@]}" "$ztlens" --config "$gen/ztlens.toml" --data-dir "disk-$lake" \
            kpi --from "$from" --to "$to" --format json >/dev/null
        echo "$lake every KPI over the day, run $run: $(seconds "$start") s"
    done
done
du -sb disk-local | awk '{print "local lake bytes: " $1}'
