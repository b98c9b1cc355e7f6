#!/usr/bin/env bash
# Runs a command in a throwaway sandbox: a new network namespace (only `lo`, up) and a private
# mount namespace with tmpfs over /run/netns and the state directories. Nothing done inside
# reaches the machine's own interfaces, routes, ruleset or state, and all of it vanishes on exit.
set -euo pipefail

if [ "${NETCTL_SANDBOX:-}" = 1 ]; then exec "$@"; fi
if [ "$(id -u)" != 0 ]; then
    echo "sandbox: needs root for unshare --net --mount; run as root" >&2
    exit 1
fi

state_dirs="/run/netns /run/netctl /var/lib/netctl /var/lib/cni"
# Empty mount points on the host; the tmpfs mounts below stay inside the sandbox.
mkdir -p $state_dirs

exec unshare --net --mount --propagation private -- \
    env NETCTL_SANDBOX=1 STATE_DIRS="$state_dirs" bash -c '
        set -e
        for dir in $STATE_DIRS; do mount -t tmpfs -o mode=0755 tmpfs "$dir"; done
        ip link set lo up
        exec "$@"' sandbox "$@"
