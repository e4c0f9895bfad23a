#!/usr/bin/env bash
# netns_rsh.sh: an "rsh agent" for Open MPI that reaches a "host" which is a Linux network
# namespace on this machine instead of another machine.
#
#   netns_rsh.sh [ssh-like options] HOST COMMAND [ARGS...]
#
# Open MPI's rsh launcher (plm rsh) starts the remote daemons (orted) by running
# `$plm_rsh_agent [$plm_rsh_args] HOST orted ...`, exactly as it would run ssh. tests/dist/two_hosts.sh
# points --mca plm_rsh_agent at this script. Like ssh, we join COMMAND and ARGS with spaces and
# hand the result to a shell on the "remote" side: here `ip netns exec NS sh -c "..."`, where NS
# is the namespace that owns HOST's address. Both namespaces share the filesystem, so the
# absolute paths in the command (orted, the program) resolve the same.
#
# The HOST -> namespace map comes from TWO_HOSTS_NETNS_MAP ("ADDR=NS ADDR=NS ...", set by
# two_hosts.sh and inherited through mpirun and the remote orted). Without it, or for a HOST not in
# it, we look for a namespace that has HOST as an IPv4 address of one of its interfaces.
#
# Needs root (ip netns exec). Exits 255 on its own errors, like ssh.
set -u

die() { printf 'netns_rsh: %s\n' "$*" >&2; exit 255; }

# Skip the options ssh would get (Open MPI passes none to an agent that is not called ssh unless
# plm_rsh_args says so; "-x" is what it adds for ssh). Options that take a value consume it.
while [ $# -gt 0 ]; do
    case $1 in
        --) shift; break ;;
        -[bcDEeFIiJLlmOoPpQRSWw]) [ $# -ge 2 ] || die "option $1 needs a value"; shift 2 ;;
        -[bcDEeFIiJLlmOoPpQRSWw]?*) shift ;;   # value attached, e.g. -oBatchMode=yes
        -?*) shift ;;                           # flags: -x -n -T -q -4 -A ...
        *) break ;;
    esac
done
[ $# -ge 1 ] || die "usage: netns_rsh.sh [options] HOST COMMAND [ARGS...]"
host=$1; shift
host=${host#*@}                                 # user@host: the user is ignored (same machine)
[ $# -ge 1 ] || die "no remote command for $host (interactive login is not supported)"

ns=
for pair in ${TWO_HOSTS_NETNS_MAP:-}; do
    if [ "${pair%%=*}" = "$host" ]; then ns=${pair#*=}; break; fi
done
if [ -z "$ns" ]; then
    for cand in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        if ip -n "$cand" -4 -o addr show 2>/dev/null | awk '{print $4}' | grep -qx "$host/[0-9]*"; then
            ns=$cand; break
        fi
    done
fi
[ -n "$ns" ] || die "no network namespace for host '$host'"

if [ "${TWO_HOSTS_VERBOSE:-0}" = 1 ]; then
    printf 'netns_rsh: %s -> netns %s: %s\n' "$host" "$ns" "$*" >&2
fi
# ssh joins its remaining arguments with spaces and the remote shell parses the result.
# With TWO_HOSTS_HOSTNAMES=1 (two_hosts.sh's default) the "host" also gets its own UTS namespace
# whose hostname is the namespace's name, so that gethostname()/MPI_Get_processor_name differ
# between the hosts as they would on real machines.
if [ "${TWO_HOSTS_HOSTNAMES:-0}" = 1 ]; then
    exec ip netns exec "$ns" unshare --uts sh -c \
        'printf "%s\n" "$0" >/proc/sys/kernel/hostname && exec sh -c "$1"' "$ns" "$*"
fi
exec ip netns exec "$ns" sh -c "$*"
