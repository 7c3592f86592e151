#!/usr/bin/env bash
# A single-node Slurm cluster with accounting on this machine, for the Slurm executor's tests
# and CI (docs/executors.md, "Slurm"). Runs as root without systemd: munged, MariaDB,
# slurmdbd, slurmctld and slurmd are started directly. Idempotent: daemons already running
# are left alone, config files are rewritten only when their content changes.
# The config lives in Debian's default place (/etc/slurm) so `sbatch` & co. find it without
# SLURM_CONF. Stop everything with scripts/slurm-down.sh.
set -euo pipefail

START=$(date +%s.%N)
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
log() { echo "slurm-up [$(elapsed)s]: $*"; }
die() { echo "slurm-up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it starts munged, MariaDB and the Slurm daemons)"

CLUSTER=${SLURM_CLUSTER_NAME:-mergetune}
CONF_DIR=/etc/slurm
RUN_DIR=/run/slurm
LOG_DIR=/var/log/slurm
DB_NAME=slurm_acct_db
DB_USER=slurm
HOST=$(hostname -s)

# --- packages ---------------------------------------------------------------------------
need=()
for p in munge slurmctld slurmd slurm-client slurmdbd mariadb-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; install ${need[*]} by hand"
    # policy-rc.d 101: the packages' postinst must not try to start services (no systemd here).
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
        || { rm -f /usr/sbin/policy-rc.d; die "apt-get install ${need[*]} failed"; }
    rm -f /usr/sbin/policy-rc.d
fi

running() { # pidfile → 0 when its process is alive
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
wait_for() { # seconds description command...
    local limit=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + limit ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what did not come up within ${limit}s (logs: $LOG_DIR, /var/log/munge, /var/log/mysql)"
        sleep 0.2
    done
}

# --- munge --------------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating the munge key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key; chmod 755 /run/munge
if running /run/munge/munged.pid; then
    log "munged already running"
else
    runuser -u munge -- /usr/sbin/munged --force || die "munged failed to start (see /var/log/munge/munged.log)"
    wait_for 10 munged munge -n
    log "munged started"
fi

# --- MariaDB ------------------------------------------------------------------------------
mkdir -p /run/mysqld /var/log/mysql; chown mysql:mysql /run/mysqld /var/log/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising the MariaDB data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/var/log/mysql/install.log 2>&1 || die "mariadb-install-db failed (see /var/log/mysql/install.log)"
fi
if mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
    log "MariaDB already running"
else
    # Detached from this shell (setsid) so the CI step's end does not take it down.
    setsid mysqld_safe --user=mysql --skip-syslog --log-error=/var/log/mysql/error.log \
        </dev/null >/dev/null 2>&1 &
    wait_for 30 MariaDB mariadb-admin --protocol=socket ping
    log "MariaDB started"
fi

# The accounting database and its user. The password is kept in slurmdbd.conf (mode 600).
mkdir -p "$CONF_DIR" "$RUN_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
DB_PASS=$(sed -n 's/^StoragePass=//p' "$CONF_DIR/slurmdbd.conf" 2>/dev/null || true)
[ -n "$DB_PASS" ] || DB_PASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
mariadb --protocol=socket <<SQL || die "could not create the accounting database $DB_NAME"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL

# --- config -------------------------------------------------------------------------------
changed=""
write_conf() { # path mode content: rewrites only on change, so a rerun leaves running daemons be
    local path=$1 mode=$2 content=$3
    if [ ! -f "$path" ] || [ "$(cat "$path")" != "$content" ]; then
        printf '%s\n' "$content" > "$path.tmp"; chmod "$mode" "$path.tmp"; chown root:root "$path.tmp"
        mv "$path.tmp" "$path"; changed="$changed $(basename "$path")"
    fi
}

write_conf "$CONF_DIR/slurmdbd.conf" 600 "# Written by scripts/slurm-up.sh (mergetune test cluster).
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME"

# The node as slurmd sees it (CPUs, sockets, cores, memory), minus its uptime line.
NODE=$(slurmd -C | head -1)
[[ "$NODE" == NodeName=* ]] || die "slurmd -C gave no node line: $NODE"
# OverSubscribe=FORCE:8: up to 8 jobs share each CPU, so tests can hold many small jobs in
# flight on a 2-core machine. Memory is not a consumable (CR_CPU): a job without --mem would
# otherwise claim the whole node.
write_conf "$CONF_DIR/slurm.conf" 644 "# Written by scripts/slurm-up.sh (mergetune test cluster).
ClusterName=$CLUSTER
# Loopback addresses: works where the hostname does not resolve (containers, CI machines).
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Short timeouts: finished jobs leave squeue after MinJobAge seconds (sacct keeps them),
# KillWait is the SIGTERM → SIGKILL gap on scancel and time limits.
MinJobAge=5
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
Waittime=0
OverTimeLimit=0
# Preemption for the tests of PREEMPTED: a job of partition low is cancelled (state PREEMPTED)
# when a job of the higher-tier partition debug needs its CPUs. Nothing outranks debug, so its
# jobs are never preempted. (PreemptMode=OFF on debug would also turn off its OverSubscribe.)
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8 PriorityTier=2
PartitionName=low Nodes=$HOST MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL"

# --- Slurm daemons -------------------------------------------------------------------------
if [ -n "$changed" ]; then
    # New config: daemons started with the old one are restarted (slurmdbd only for its own).
    daemons="slurmd slurmctld"
    [[ "$changed" == *slurmdbd.conf* ]] && daemons="$daemons slurmdbd"
    for d in $daemons; do
        if running "$RUN_DIR/$d.pid"; then
            log "config changed: restarting $d"
            kill "$(cat "$RUN_DIR/$d.pid")"
            for _ in $(seq 50); do running "$RUN_DIR/$d.pid" || break; sleep 0.1; done
        fi
    done
fi

if running "$RUN_DIR/slurmdbd.pid"; then
    log "slurmdbd already running"
else
    slurmdbd || die "slurmdbd failed to start (see $LOG_DIR/slurmdbd.log)"
    wait_for 30 slurmdbd sacctmgr -n list cluster
    log "slurmdbd started"
fi
if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster 2>/dev/null)" ]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr could not register cluster $CLUSTER"
    log "cluster $CLUSTER registered"
fi

if running "$RUN_DIR/slurmctld.pid"; then
    log "slurmctld already running"
else
    slurmctld || die "slurmctld failed to start (see $LOG_DIR/slurmctld.log)"
    wait_for 30 slurmctld scontrol ping
    log "slurmctld started"
fi
if running "$RUN_DIR/slurmd.pid"; then
    log "slurmd already running"
else
    slurmd || die "slurmd failed to start (see $LOG_DIR/slurmd.log)"
    log "slurmd started"
fi

# A node left DOWN/DRAIN by an earlier run comes back.
state() { sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1; }
case "$(state)" in
    down*|drain*|fail*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
esac
node_idle() { case "$(state)" in idle*|mix*|alloc*) return 0 ;; *) return 1 ;; esac; }
wait_for 30 "node $HOST (state: $(state))" node_idle
wait_for 30 "sacct" sacct -n -X -S now-1minutes
log "ready: node $HOST $(state), partitions debug (default) and low (preemptible), cluster $CLUSTER, accounting up"
