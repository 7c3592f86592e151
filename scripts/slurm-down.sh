#!/usr/bin/env bash
# Stops the test cluster that scripts/slurm-up.sh started: slurmd, slurmctld, slurmdbd,
# MariaDB and munged, each by its pid file. Config, spool and database stay (the next
# slurm-up.sh reuses them).
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "slurm-down: error: must run as root" >&2; exit 1; }

stop() { # name pidfile
    local name=$1 pidfile=$2
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        local pid; pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; echo "slurm-down: $name ($pid) killed"; else echo "slurm-down: $name stopped"; fi
    else
        echo "slurm-down: $name not running"
    fi
}
stop slurmd /run/slurm/slurmd.pid
stop slurmctld /run/slurm/slurmctld.pid
stop slurmdbd /run/slurm/slurmdbd.pid
if mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
    mariadb-admin --protocol=socket shutdown && echo "slurm-down: MariaDB stopped"
else
    echo "slurm-down: MariaDB not running"
fi
stop munged /run/munge/munged.pid
