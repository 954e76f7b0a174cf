#!/usr/bin/env bash
# The GPU must-show of issue 6, in one call on a machine with one GPU and
# torch/transformers/peft (no internet, no weights, no Go: it uses the static
# binaries in $BIN, built by `make static`).
#
#   1. build a tiny Qwen2 model in-process (tokenizer trained here, random init,
#      brief pre-training), saved as a Hugging Face directory;
#   2. start the bus + lake (leakscope-ingest), submit the mini-sweep
#      gpuworker/sweep/examples/tiny.yaml;
#   3. run a worker; SIGKILL it during eval sampling; restart it until idle;
#   4. measure eval sampling with publishing on vs off (same adapter);
#   5. check the lake with pandas (per-cell counts, marker rates) and pack it
#      into $OUT for `leakscope leakage` elsewhere.
# LEAKSCOPE_ENGINE_BATCHING=continuous (or static) picks the engine's batching for
# every generate the worker sends (PROTOCOL.md, generate).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${BIN:-$ROOT/bin}
OUT=${OUT:-/tmp/leakscope-gpu-out}
WORK=/tmp/leakscope-tiny            # the model path tiny.yaml names
PORT=${PORT:-4333}
URL=nats://127.0.0.1:$PORT
SPEC=$ROOT/gpuworker/sweep/examples/tiny.yaml
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 LEAKSCOPE_ENGINE_DIR=$ROOT/gpuworker/engine
log() { echo "== $(date +%T) $*"; }
t0=$(date +%s)

if [ -n "${ENGINE_TESTS:-}" ]; then
  log "engine unit tests (protocol, masks; the GPU test too, since torch is here: ~2 min)"
  (cd "$ROOT/gpuworker/engine" && python3 -m unittest discover -s tests 2>&1 | tail -5)
fi

if [ "${ENGINE:-hf}" = hf ]; then
  log "tiny model"
  (cd "$ROOT/gpuworker/engine" && python3 -m leakscope_engine.tiny --out "$WORK/model" --steps "${TINY_STEPS:-400}") | tee "$OUT/tiny.json"
fi

log "bus + lake"
rm -rf "$WORK/data" "$WORK/work"
"$BIN/leakscope-ingest" --data "$WORK/data" --listen 127.0.0.1:$PORT > "$OUT/ingest.log" 2>&1 &
ING=$!
sleep 2
if [ -n "${ADAPTIVE:-}" ]; then
  SPEC=$WORK/tiny-adaptive.yaml
  sed 's/base_model: true}/base_model: true, adaptive: {}}/; s/^sweep: tiny/sweep: tinyad/; s/^experiment: gpu_test/experiment: gpu_test_adaptive/' \
    "$ROOT/gpuworker/sweep/examples/tiny.yaml" > "$SPEC"
fi
"$BIN/gpuworker" --nats-url $URL sweep submit "$SPEC"

if [ -n "${ADAPTIVE:-}" ]; then
  # Issue 11 for real: the same mini-sweep with eval.adaptive (the default
  # rule), the live aggregator deciding each round, the worker stopping cells.
  log "adaptive mini-sweep (leakscope-live decides, the worker stops cells)"
  "$BIN/leakscope-live" --nats-url $URL --http 127.0.0.1:0 > "$OUT/live.log" 2>&1 &
  LIVE=$!
  $BIN/gpuworker --nats-url $URL --engine ${ENGINE:-hf} ${ENGINE_FLAGS:-} --work $WORK/work --until-idle --name gpu-a > "$OUT/worker1.log" 2>&1
  grep -E "decided|sampled|finished \(" "$OUT/worker1.log" || true
  sleep 2
  kill -TERM $LIVE $ING; wait $ING || true
  python3 "$ROOT/gpuworker/engine/gputest/check_lake.py" "$WORK/data/lake" gpu_test_adaptive | tee "$OUT/check.json"
  tar -C "$WORK/data" -czf "$OUT/lake.tgz" lake
  log "done in $(( $(date +%s) - t0 )) s"
  exit 0
fi

if [ -n "${ONLY_OVERHEAD:-}" ]; then
  log "worker (no kill: this run measures the publishing overhead only)"
  $BIN/gpuworker --nats-url $URL --engine hf --work $WORK/work --until-idle --name gpu-a > "$OUT/worker1.log" 2>&1
  # OVERHEAD_CASES: mode:batch_size[:n[:repeats]] ... The mode "shared" lets
  # the engine, worker, NATS server and ingest share all cores; "pinned"
  # gives the engine and worker the first half of the cores and the bus +
  # ingest the other half (taskset). The batch size sets how many
  # completions per second the bus must take (the #81 recipe samples 64 per
  # batch; tiny.yaml 512, to be quick).
  half=$(( $(nproc) / 2 ))
  for c in ${OVERHEAD_CASES:-shared:512:40:5}; do
    IFS=: read -r mode batch n reps <<< "$c"
    pin=()
    if [ "$mode" = pinned ]; then
      taskset -a -p -c "$half-$(( $(nproc) - 1 ))" $ING > /dev/null
      pin=(taskset -c "0-$(( half - 1 ))")
    fi
    log "publishing overhead, $mode cores, batch $batch (eval of src_chef, same adapter, on vs off)"
    "${pin[@]}" "$BIN/gpuworker" --nats-url $URL --engine hf --work $WORK/work --name gpu-c overhead "$SPEC" --source src_chef \
      --batch-size "$batch" --n "${n:-40}" --repeats "${reps:-5}" 2>"$OUT/overhead-$mode-$batch-n$n.log" | tee "$OUT/overhead-$mode-$batch-n$n.txt"
  done
  kill -TERM $ING; wait $ING || true
  log "done in $(( $(date +%s) - t0 )) s"
  exit 0
fi

log "worker 1 (killed during eval sampling)"
W="$BIN/gpuworker --nats-url $URL --engine hf --work $WORK/work --until-idle --ack-wait 10s --heartbeat 1s"
$W --name gpu-a > "$OUT/worker1.log" 2>&1 &
WK=$!
for _ in $(seq 1 600); do
  grep -q "tiny.src_chef.s42.eval: attempt 1" "$OUT/worker1.log" && break
  kill -0 $WK 2>/dev/null || { echo "worker 1 exited early"; tail -30 "$OUT/worker1.log"; exit 1; }
  sleep 0.5
done
sleep "${KILL_AFTER:-1.5}"
kill -9 $WK || true
wait $WK 2>/dev/null || true
log "killed worker 1: $(grep -c . "$OUT/worker1.log") log lines"
"$BIN/gpuworker" --nats-url $URL sweep status "$SPEC" | cut -c1-160

log "worker 2 (resumes after the ack wait)"
$W --name gpu-b > "$OUT/worker2.log" 2>&1
grep -E "resuming|sampled|finished|failed" "$OUT/worker2.log" || true
"$BIN/gpuworker" --nats-url $URL sweep status "$SPEC" | cut -c1-160

log "publishing overhead (eval of src_chef, same adapter, on vs off)"
$W --name gpu-c overhead "$SPEC" --source src_chef --repeats ${REPEATS:-3} --n ${OVERHEAD_N:-40} 2>"$OUT/overhead.log" | tee "$OUT/overhead.txt"

sleep 3
kill -TERM $ING; wait $ING || true
log "lake check (pandas)"
python3 "$ROOT/gpuworker/engine/gputest/check_lake.py" "$WORK/data/lake" | tee "$OUT/check.json"
tar -C "$WORK/data" -czf "$OUT/lake.tgz" lake
log "done in $(( $(date +%s) - t0 )) s"
