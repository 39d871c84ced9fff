#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, with accounting, for nbprune's slurm-executor tests.
#
#   tools/slurm_cluster.sh start    install (Debian packages) and start munge, MariaDB, slurmdbd, slurmctld, slurmd
#   tools/slurm_cluster.sh status   print sinfo and exit 0 when the cluster takes jobs
#   tools/slurm_cluster.sh stop     stop the Slurm daemons (MariaDB and munge keep running)
#
# Needs root and apt (Debian 12). Everything it writes outside /etc/slurm lives under $NBPRUNE_SLURM_STATE
# (default /var/lib/nbprune-slurm). /etc/slurm/slurm.conf is written only when absent or made by this script,
# so a real cluster's configuration is never overwritten. Takes about a minute on a fresh machine.
set -euo pipefail

STATE=${NBPRUNE_SLURM_STATE:-/var/lib/nbprune-slurm}
CLUSTER=nbprune
MARK="# written by nbprune tools/slurm_cluster.sh"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
DB_PASS=nbprune-local-only
PACKAGES="slurmctld slurmd slurmdbd slurm-client munge mariadb-server"

die() { echo "slurm_cluster: $*" >&2; exit 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local t=$1 what=$2; shift 2
    for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    die "$what did not come up within ${t}s (logs: $STATE/log)"
}

install_packages() {
    local missing=()
    for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    echo "slurm_cluster: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_munge() {
    [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    mkdir -p /run/munge && chown munge:munge /run/munge
    if ! munge -n </dev/null >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        wait_for 20 munged sh -c 'munge -n </dev/null | unmunge'
    fi
}

start_mariadb() {
    if ! mysqladmin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mysqld_safe --user=mysql >"$STATE/log/mariadb.out" 2>&1 &)
        wait_for 60 MariaDB mysqladmin ping
    fi
    mysql -u root <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
}

write_configs() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # MiB, leave 10% to the OS
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's config"
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$STATE/log"
    cat >"$CONF" <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DBD_CONF" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
    chmod 600 "$DBD_CONF"
}

start() {
    [ "$(id -u)" -eq 0 ] || die "needs root (it installs packages and starts daemons)"
    if status >/dev/null 2>&1; then echo "slurm_cluster: already running"; sinfo; return 0; fi
    install_packages
    mkdir -p "$STATE/log"
    write_configs
    start_munge
    start_mariadb
    pgrep -x slurmdbd >/dev/null || slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
    sacctmgr -i -Q add account nbprune Cluster="$CLUSTER" Description=nbprune Organization=nbprune >/dev/null 2>&1 || true
    sacctmgr -i -Q add user root Account=nbprune Cluster="$CLUSTER" >/dev/null 2>&1 || true
    pgrep -x slurmctld >/dev/null || slurmctld
    wait_for 60 slurmctld scontrol ping
    pgrep -x slurmd >/dev/null || slurmd
    wait_for 60 "the node" sh -c "sinfo -h -o %t | grep -qE 'idle|mix|alloc'"
    echo "slurm_cluster: up"
    sinfo
}

status() {
    command -v sinfo >/dev/null || { echo "slurm_cluster: Slurm is not installed"; return 1; }
    scontrol ping >/dev/null 2>&1 || { echo "slurm_cluster: slurmctld is not running"; return 1; }
    sinfo -h -o %t | grep -qE 'idle|mix|alloc' || { echo "slurm_cluster: no node takes jobs"; sinfo; return 1; }
    sinfo
}

stop() {
    for d in slurmd slurmctld slurmdbd; do pkill -x "$d" 2>/dev/null || true; done
    echo "slurm_cluster: stopped the Slurm daemons"
}

case "${1:-}" in
    start) start ;;
    status) status ;;
    stop) stop ;;
    *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
