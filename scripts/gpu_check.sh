#!/usr/bin/env bash
# The GPU checks in one go (about 10 minutes at most): the CUDA tests, the optimizer and training-loop
# benchmarks on CUDA, and a bf16 training run, then one summary (each step ok/failed, its seconds,
# the benchmarks' ratios). Exit status 0 when every step passed, 1 otherwise; without a CUDA device it
# prints "no CUDA device" and exits 0 at once.
#
#   scripts/gpu_check.sh                 # from the repository root
#   PYTHON=/path/to/python scripts/gpu_check.sh
#   BENCH_OPTIM_ARGS="--quick" scripts/gpu_check.sh   # also time the compiled update (inductor: minutes)
#
# Every step runs under its own time limit (seconds, below), and its output goes to $LOG_DIR.
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
BENCH_OPTIM_ARGS=${BENCH_OPTIM_ARGS:---quick --no-compile}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no CUDA device"
    exit 0
fi
LOG_DIR=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}
mkdir -p "$LOG_DIR"

names=() results=() seconds=() notes=()
failed=0

# step NAME LIMIT_S COMMAND...: run COMMAND with a time limit, its output in $LOG_DIR/NAME.log.
step() {
    local name=$1 limit=$2
    shift 2
    local log="$LOG_DIR/$name.log" start=$SECONDS status
    echo "== $name (limit ${limit} s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    status=$?
    tail -n 5 "$log" | sed 's/^/   /'
    names+=("$name")
    seconds+=($((SECONDS - start)))
    if [[ $status -eq 0 ]]; then
        results+=("ok")
    elif [[ $status -eq 124 || $status -eq 137 ]]; then
        results+=("failed (over ${limit} s)")
        failed=1
    else
        results+=("failed (exit $status)")
        failed=1
    fi
    notes+=("")
    return $status
}

# note TEXT: a line of numbers for the summary, on the last step.
note() { notes[${#notes[@]} - 1]=$1; }

if ! "$PYTHON" -c "import netopt, torch" >/dev/null 2>&1; then
    step install 300 make install
    PYTHON=.venv/bin/python
fi

if ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" >/dev/null 2>&1; then
    echo "nvidia-smi sees a GPU but torch does not (a CPU-only torch?):"
    "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    exit 1
fi
"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name(), '| torch', torch.__version__)"

step cuda_tests 210 "$PYTHON" -m pytest -q -m cuda
note "$(grep -Eo '[0-9]+ (passed|failed|skipped|error)[^=]*' "$LOG_DIR/cuda_tests.log" | tail -n 1)"

# shellcheck disable=SC2086  # the options are meant to split
step bench_optim 120 "$PYTHON" scripts/bench_optim.py --device cuda $BENCH_OPTIM_ARGS
note "$(grep -E '^worst' "$LOG_DIR/bench_optim.log" | sed -E 's/ \(target[^)]*\)//' | paste -sd ';' -)"

step bench_train 120 "$PYTHON" scripts/bench_train.py --device cuda --repeats 2
note "samples/s ratios netopt/torch: $(awk '$NF ~ /^[0-9]+\.[0-9][0-9][0-9]$/ {print $NF}' "$LOG_DIR/bench_train.log" | paste -sd ' ' -)"

if [[ -f conf/experiment/fashion_mnist_fast.yaml ]]; then
    train_args=(experiment=fashion_mnist_fast)
else
    train_args=(dataset=fashion_mnist model=cnn norm=batch trainer.max_epochs=3)
fi
run_dir="$LOG_DIR/train_bf16"
step train_bf16 130 "$PYTHON" -m netopt.cli.train "${train_args[@]}" trainer.precision=bf16 \
    trainer.device=cuda trainer.progress=false "hydra.run.dir=$run_dir"
if [[ -f $run_dir/metrics.json ]]; then
    note "$("$PYTHON" - "$run_dir/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
nan = float("nan")
print(f"{m['status']}, test_acc {m.get('test_acc', nan):.4f}, {m.get('samples_per_s', nan):,.0f} samples/s")
PY
)"
fi

echo
echo "== summary (logs in $LOG_DIR)"
for i in "${!names[@]}"; do
    printf '%-12s %-22s %5s s  %s\n' "${names[$i]}" "${results[$i]}" "${seconds[$i]}" "${notes[$i]}"
done
exit $failed
