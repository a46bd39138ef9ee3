#!/usr/bin/env bash
# Two machines x 8 GPUs, FSDP2 full fine-tuning: run this same script on both machines, changing
# only MACHINE_RANK. Everything a rank needs is in the environment below; nothing else is shared
# but the run folder, which must be on a filesystem both machines see (or copy 2-curate/ over).
#
#   machine 0:  MACHINE_RANK=0 MAIN_ADDR=10.0.0.1 bash examples/accelerate/multi_node.sh
#   machine 1:  MACHINE_RANK=1 MAIN_ADDR=10.0.0.1 bash examples/accelerate/multi_node.sh
#
# Data generation and curation run once (on machine 0, before this), eval once after:
#   seedtune run examples/multi-gpu.yaml --until curate
#   ... this script on both machines ...
#   seedtune run examples/multi-gpu.yaml --from eval
set -euo pipefail

: "${MACHINE_RANK:?set MACHINE_RANK=0 on the main machine, 1 on the other}"
: "${MAIN_ADDR:?set MAIN_ADDR to the main machine address both machines reach}"
MAIN_PORT="${MAIN_PORT:-29500}"          # a free TCP port on the main machine, open between them
GPUS_PER_MACHINE="${GPUS_PER_MACHINE:-8}"
NUM_MACHINES="${NUM_MACHINES:-2}"
RUN="${RUN:-runs/multi-gpu}"
# NCCL picks a network interface itself; name it when the machines have several (e.g. eth0, ib0).
export NCCL_SOCKET_IFNAME="${NCCL_SOCKET_IFNAME:-}"
[ -n "$NCCL_SOCKET_IFNAME" ] || unset NCCL_SOCKET_IFNAME

accelerate launch --config_file examples/accelerate/fsdp.yaml \
    --num_machines "$NUM_MACHINES" --machine_rank "$MACHINE_RANK" \
    --num_processes "$((NUM_MACHINES * GPUS_PER_MACHINE))" \
    --main_process_ip "$MAIN_ADDR" --main_process_port "$MAIN_PORT" \
    -m seedtune.cli train --config examples/multi-gpu.yaml \
    data="$RUN/2-curate/kept.jsonl" output="$RUN/3-train/model"
