#!/usr/bin/env bash
# SLURM: start a Ray head and one Ray worker per further node, then `harness run` on the head.
#
#   sbatch ray_configs/slurm.sh                      # the paper grid
#   sbatch ray_configs/slurm.sh grids/demo.yaml      # any grid; extra args go to `harness run`
#   sbatch --nodes=8 ray_configs/slurm.sh grids/paper.yaml --db /shared/results.duckdb
#
# Submit from the repository root on a shared filesystem with the venv built (scripts/setup.sh
# --gpu). Re-submitting the same command resumes: completed trials are skipped.
#SBATCH --job-name=tallrec-harness
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --output=runs/slurm-%j.out
set -euo pipefail

GRID="${1:-grids/paper.yaml}"
shift || true
cd "${SLURM_SUBMIT_DIR:-$PWD}"
source .venv/bin/activate

# Token authentication: a fresh secret for this job, passed to every srun step through the
# environment (srun exports it), never written to disk. Nothing without it can join the cluster.
export RAY_AUTH_MODE=token
RAY_AUTH_TOKEN="$(python -c 'import secrets; print(secrets.token_hex(32))')"
export RAY_AUTH_TOKEN
# AT adapters and converted models: on the shared filesystem, seen by every node.
export HARNESS_CACHE_DIR="${HARNESS_CACHE_DIR:-$PWD/.cache/tallrec-harness}"
# Ray's temp dir: node-local and short (AF_UNIX socket paths must stay under 107 bytes).
RAY_TMP="/tmp/ray-${SLURM_JOB_ID}"

mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
head="${nodes[0]}"
head_ip="$(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address | awk '{print $1}')"
port=6379
cpus="${SLURM_CPUS_PER_TASK:-$(nproc)}"
gpus="${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}"

echo "Ray head on $head ($head_ip:$port); ${#nodes[@]} node(s), $gpus GPU(s) and $cpus CPUs each"
srun --nodes=1 --ntasks=1 -w "$head" \
  ray start --head --node-ip-address="$head_ip" --port="$port" --num-cpus="$cpus" \
  --num-gpus="$gpus" --temp-dir="$RAY_TMP" --dashboard-host=127.0.0.1 --block &
sleep 15
for node in "${nodes[@]:1}"; do
  srun --nodes=1 --ntasks=1 -w "$node" \
    ray start --address="$head_ip:$port" --num-cpus="$cpus" --num-gpus="$gpus" \
    --temp-dir="$RAY_TMP" --block &
  sleep 3
done

# Wait until every node has joined (at most 5 minutes).
python - "$head_ip:$port" "${#nodes[@]}" <<'PY'
import sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False)
want, deadline = int(sys.argv[2]), time.time() + 300
while sum(n["Alive"] for n in ray.nodes()) < want and time.time() < deadline:
    time.sleep(5)
print(f"{sum(n['Alive'] for n in ray.nodes())}/{want} nodes up: {ray.cluster_resources()}")
PY

status=0
harness run "$GRID" --address "$head_ip:$port" "$@" || status=$?
db_args=(); prev=""
for arg in "$@"; do [[ "$prev" == "--db" ]] && db_args=(--db "$arg"); prev="$arg"; done
harness status ${db_args[@]+"${db_args[@]}"} || true
exit "$status"
