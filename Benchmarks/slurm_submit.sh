#!/usr/bin/env bash
# Submit cost on the local test cluster (scripts/slurm-up.sh): N separate `sbatch --parsable`
# calls vs one job array of N, and the cost of status queries (one batched squeue for N ids vs
# N single-id calls). Each job runs `true`. Results: Benchmarks/slurm.md.
# Usage: bash Benchmarks/slurm_submit.sh [N] [RUNS]
set -euo pipefail
N=${1:-50}; RUNS=${2:-3}
command -v sbatch >/dev/null && scontrol ping >/dev/null 2>&1 || { echo "Slurm is not running: bash scripts/slurm-up.sh" >&2; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
ms() { awk -v s="$1" -v e="$2" -v n="${3:-1}" 'BEGIN { printf "%.1f", (e - s) * 1000 / n }'; }
drain() { # ids: waits until none of them is pending or running
    while [ -n "$(squeue -h -j "$1" -t PD,R,CG -o %i 2>/dev/null)" ]; do sleep 0.2; done
}
echo "N=$N RUNS=$RUNS host=$(hostname -s) cpus=$(nproc) slurm=$(sinfo -V)"
for r in $(seq "$RUNS"); do
    s=$(now)
    ids=$(for i in $(seq "$N"); do sbatch --parsable -J bench-$i -o "$out/%j.out" --wrap true; done | paste -sd,)
    e=$(now)
    drain "$ids"; d=$(now)
    echo "run $r separate: submit ${N} jobs $(ms "$s" "$e") ms ($(ms "$s" "$e" "$N") ms/job), all finished after $(ms "$s" "$d") ms"
    sleep 1

    s=$(now)
    aid=$(sbatch --parsable -J bench-array --array=0-$((N - 1)) -o "$out/%A_%a.out" --wrap true)
    e=$(now)
    drain "$aid"; d=$(now)
    echo "run $r array:    submit ${N} tasks $(ms "$s" "$e") ms, all finished after $(ms "$s" "$d") ms"
    sleep 1

    # Status queries over the N separate ids (finished jobs; squeue -t all still knows them
    # for MinJobAge seconds, sacct always).
    s=$(now); squeue -h -t all -j "$ids" -o '%i|%T' >/dev/null; e=$(now)
    s2=$(now); for id in ${ids//,/ }; do squeue -h -t all -j "$id" -o '%i|%T' >/dev/null 2>&1 || true; done; e2=$(now)
    s3=$(now); sacct -n -P -X -j "$ids" --format=JobID,State,ExitCode >/dev/null; e3=$(now)
    echo "run $r status:   one squeue for $N ids $(ms "$s" "$e") ms; $N single-id squeue calls $(ms "$s2" "$e2") ms; one sacct for $N ids $(ms "$s3" "$e3") ms"
done
