#!/usr/bin/env bash
# two_hosts.sh: run an MPI job across two "hosts" made of Linux network namespaces on this machine.
#
#   tests/dist/two_hosts.sh [--np-per-host N] -- COMMAND [ARGS...]
#
# Why: data parallelism over MPI must work when ranks sit on different hosts and talk over TCP,
# which a single-host `mpirun -np 2` never exercises (Open MPI then uses shared memory and launches
# no remote daemon). Two network namespaces joined by a veth pair are two hosts as far as
# networking goes (each has its own interfaces, addresses and loopback), while sharing the
# filesystem, so the same absolute paths work in both.
#
# What it does:
#   1. Checks that it can create namespaces (needs root / CAP_SYS_ADMIN + CAP_NET_ADMIN); if not,
#      prints "two_hosts: SKIP: <reason>" and exits 77 (automake's "skipped" code; give the CTest
#      test SKIP_RETURN_CODE 77). Usage errors exit 2.
#   2. Creates namespaces r1mpi<PID>a and r1mpi<PID>b, a veth pair between them with
#      10.77.X.1/24 and 10.77.X.2/24 (X from the PID; the link lives only inside the two namespaces,
#      so parallel runs cannot clash even on the same X), and brings up lo and the veth in each.
#   3. Runs mpirun inside the first namespace with a hostfile of the two addresses
#      (N slots each, -np 2N, ranks filled by slot: ranks 0..N-1 in the first, N..2N-1 in the second).
#      Open MPI starts the daemon of the second "host" through its rsh agent, which is
#      tests/dist/netns_rsh.sh: it maps the address to its namespace and runs the command there
#      with `ip netns exec`. Out-of-band and MPI traffic are restricted to the veth
#      (oob_tcp_if_include, btl_tcp_if_include) and the BTLs to self,tcp (no shared memory between
#      the "hosts"). PATH, LD_LIBRARY_PATH, OMP_NUM_THREADS and every R1_* variable are exported to
#      the ranks with -x (and the sanitizers' options when set).
#   4. Exits with mpirun's exit code (128+signal if this script was interrupted), after removing
#      the namespaces and killing anything still running in them (trap on EXIT, INT, TERM, HUP).
#
# Each "host" also gets its own UTS namespace whose hostname is the network namespace's name
# (r1mpi<PID>a, r1mpi<PID>b), so gethostname() and MPI_Get_processor_name() tell the hosts apart as
# on real machines (without this both would report this machine's hostname; Open MPI itself does
# not need it, it tells the nodes apart by the hostfile's addresses). TWO_HOSTS_HOSTNAMES=0 turns
# this off; it is off by itself when unshare (util-linux) is missing.
#
# Environment: TWO_HOSTS_MPIRUN (default: mpirun), TWO_HOSTS_MPIRUN_ARGS (extra mpirun arguments,
# split on spaces), TWO_HOSTS_HOSTNAMES (1 by default, see above), TWO_HOSTS_VERBOSE=1 (print the
# setup, the mpirun command line and the agent's remote commands on stderr).
# A `kill -9` of this script cannot be trapped and leaves its namespaces behind; the next run
# removes the namespaces (and kills the processes in them) of runs whose PID is gone. By hand:
# `ip netns list | grep r1mpi` shows them and `ip netns del NAME` removes them.
set -u

me=two_hosts
die()  { printf '%s: error: %s\n' "$me" "$*" >&2; exit 2; }
skip() { printf '%s: SKIP: %s\n' "$me" "$*"; exit 77; }
say()  { [ "${TWO_HOSTS_VERBOSE:-0}" = 1 ] && printf '%s: %s\n' "$me" "$*" >&2; return 0; }

usage() { echo "usage: $0 [--np-per-host N] -- COMMAND [ARGS...]" >&2; exit 2; }

np_per_host=1
while [ $# -gt 0 ]; do
    case $1 in
        --np-per-host) [ $# -ge 2 ] || usage; np_per_host=$2; shift 2 ;;
        --np-per-host=*) np_per_host=${1#*=}; shift ;;
        -h|--help) usage ;;
        --) shift; break ;;
        *) break ;;                       # tolerate a missing "--"
    esac
done
[ $# -ge 1 ] || usage
case $np_per_host in ''|*[!0-9]*|0*) die "--np-per-host must be a positive integer, not '$np_per_host'" ;; esac

here=$(cd "$(dirname "$0")" && pwd) || die "cannot find the script directory"
agent=$here/netns_rsh.sh
[ -x "$agent" ] || die "$agent is missing or not executable"
mpirun=${TWO_HOSTS_MPIRUN:-mpirun}
mpirun_path=$(command -v "$mpirun") || skip "$mpirun not found"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not found"
[ "$(id -u)" = 0 ] || skip "not root (ip netns needs root)"

ns1=r1mpi$$a
ns2=r1mpi$$b
veth1=r1v$$a                  # interface names are at most 15 characters; a PID has at most 7 digits
veth2=r1v$$b
x=$(( $$ % 250 + 1 ))
addr1=10.77.$x.1
addr2=10.77.$x.2
subnet=10.77.$x.0/24          # the veth's subnet: the only one Open MPI may use (CIDR works on both sides)
tmpdir=
mpirun_pid=
created=

cleanup() {
    local ns pid pids
    trap '' INT TERM HUP
    if [ -n "$mpirun_pid" ] && kill -0 "$mpirun_pid" 2>/dev/null; then
        kill -TERM "$mpirun_pid" 2>/dev/null
        # mpirun tears its daemons and ranks down on SIGTERM; give it a moment, then force it.
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.3; done
        kill -KILL "$mpirun_pid" 2>/dev/null
        wait "$mpirun_pid" 2>/dev/null
    fi
    for ns in $created; do
        # Whatever is still running in the namespace (a stray orted or rank) was started by us.
        pids=$(ip netns pids "$ns" 2>/dev/null)
        if [ -n "$pids" ]; then
            for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
            sleep 0.5
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        fi
        ip netns list 2>/dev/null | grep -q "^$ns\( \|\$\)" || continue
        ip netns del "$ns" 2>/dev/null || printf '%s: warning: could not delete netns %s\n' "$me" "$ns" >&2
    done
    created=
    # Deleting the namespaces destroys the veth pair; this is only for a half-finished setup.
    ip link del "$veth1" 2>/dev/null
    [ -n "$tmpdir" ] && rm -rf "$tmpdir"
    tmpdir=
}
on_signal() {
    # Forward to mpirun; cleanup (on EXIT) waits for it and removes the namespaces.
    trap '' INT TERM HUP
    say "caught SIG$1, stopping mpirun"
    exit $(( 128 + $2 ))
}
trap cleanup EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

# Namespaces left by earlier runs that were killed with SIGKILL: r1mpi<PID>a/b whose PID is gone.
reap_stale() {
    local ns pid p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $ns in r1mpi*a|r1mpi*b) ;; *) continue ;; esac
        pid=${ns#r1mpi}; pid=${pid%?}
        case $pid in ''|*[!0-9]*) continue ;; esac
        kill -0 "$pid" 2>/dev/null && continue          # still running (or the PID was reused)
        say "removing stale netns $ns"
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}
reap_stale

# 1. Can we create namespaces at all? (Root is not enough in some containers.)
created=$ns1                  # before the add: a signal right after it must still clean up
if ! err=$(ip netns add "$ns1" 2>&1); then
    created=
    skip "cannot create a network namespace (ip netns add: $(printf '%s' "${err:-failed}" | tr '\n' ' ' | sed 's/ *$//'); needs root with CAP_SYS_ADMIN)"
fi

# 2. The second namespace and the link between them. A failure here after the probe succeeded is
# still an environment limitation (e.g. no veth support), so it skips too.
setup() {
    ip netns add "$ns2" || return 1
    created="$ns1 $ns2"
    ip link add "$veth1" type veth peer name "$veth2" || return 1
    ip link set "$veth1" netns "$ns1" || return 1
    ip link set "$veth2" netns "$ns2" || return 1
    ip -n "$ns1" addr add "$addr1/24" dev "$veth1" || return 1
    ip -n "$ns2" addr add "$addr2/24" dev "$veth2" || return 1
    ip -n "$ns1" link set lo up || return 1
    ip -n "$ns2" link set lo up || return 1
    ip -n "$ns1" link set "$veth1" up || return 1
    ip -n "$ns2" link set "$veth2" up || return 1
}
if ! err=$(setup 2>&1); then
    # setup ran in a subshell ($(...)), so record both namespaces for cleanup here.
    created="$ns1 $ns2"
    skip "cannot set up the veth link between namespaces: $(printf '%s' "$err" | tr '\n' ' ')"
fi
created="$ns1 $ns2"
say "$ns1 ($veth1 $addr1) <-> $ns2 ($veth2 $addr2)"

# 3. Hostfile and mpirun.
tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/two_hosts.XXXXXX") || die "mktemp failed"
hostfile=$tmpdir/hostfile
printf '%s slots=%s\n%s slots=%s\n' "$addr1" "$np_per_host" "$addr2" "$np_per_host" >"$hostfile"

exports=()
for v in PATH LD_LIBRARY_PATH OMP_NUM_THREADS ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
    [ -n "${!v+set}" ] && exports+=(-x "$v")
done
while IFS= read -r v; do
    case $v in R1_*) exports+=(-x "$v") ;; esac
done < <(compgen -e)

# The rsh agent finds the namespace of an address through this map (inherited by mpirun, the
# agent, and the remote orted should it launch further daemons).
export TWO_HOSTS_NETNS_MAP="$addr1=$ns1 $addr2=$ns2"
hostnames=${TWO_HOSTS_HOSTNAMES:-1}
if [ "$hostnames" = 1 ] && ! command -v unshare >/dev/null 2>&1; then
    say "unshare not found: both hosts keep this machine's hostname"
    hostnames=0
fi
export TWO_HOSTS_HOSTNAMES=$hostnames
uts=()
if [ "$hostnames" = 1 ]; then
    uts=(unshare --uts sh -c 'printf "%s\n" "$0" >/proc/sys/kernel/hostname && exec "$@"' "$ns1")
fi

# shellcheck disable=SC2206  # TWO_HOSTS_MPIRUN_ARGS is meant to be word-split
extra=( ${TWO_HOSTS_MPIRUN_ARGS:-} )
cmd=(ip netns exec "$ns1" "${uts[@]}" "$mpirun_path"
     --allow-run-as-root
     --hostfile "$hostfile"
     -np $(( 2 * np_per_host ))
     --map-by slot
     --mca plm rsh
     --mca plm_rsh_agent "$agent"
     --mca oob_tcp_if_include "$subnet"
     --mca btl_tcp_if_include "$subnet"
     --mca btl self,tcp
     "${exports[@]}"
     "${extra[@]}"
     "$@")
say "running: ${cmd[*]}"

# mpirun runs in the background so that the traps fire at once on a signal (bash defers traps
# while a foreground child runs); stdin is passed through explicitly (a background job would
# otherwise get /dev/null).
"${cmd[@]}" <&0 &
mpirun_pid=$!
wait "$mpirun_pid"
rc=$?
mpirun_pid=
exit "$rc"
