#!/usr/bin/env bash
# Runs a command in a throwaway sandbox: a new network namespace (only `lo`, up) and a private
# mount namespace with tmpfs over /run/netns and the state directories, and a sysfs of the new
# network namespace (/sys/class/net lists its links only). Nothing done inside reaches the
# machine's own interfaces, routes, ruleset or state, and all of it vanishes on exit.
set -euo pipefail

if [ "${NETCTL_SANDBOX:-}" = 1 ]; then exec "$@"; fi
if [ "$(id -u)" != 0 ]; then
    echo "sandbox: needs root for unshare --net --mount; run as root" >&2
    exit 1
fi

state_dirs="/run/netns /run/netctl /var/lib/netctl /var/lib/cni /etc/netns"
# Where docker.io is installed, dockerd and containerd keep their state in the sandbox too
# (Tests/Helpers/dockerd.sh starts them).
if [ -x /usr/sbin/dockerd ]; then
    state_dirs="$state_dirs /run/docker /run/containerd /etc/docker /var/lib/docker /var/lib/containerd"
fi
# Empty mount points on the host; the tmpfs mounts below stay inside the sandbox.
mkdir -p $state_dirs

# A docker command without -H finds no daemon rather than the machine's (/run/docker.sock).
exec unshare --net --mount --propagation private -- \
    env NETCTL_SANDBOX=1 DOCKER_HOST=unix:///run/docker/no-daemon.sock STATE_DIRS="$state_dirs" bash -c '
        set -e
        for dir in $STATE_DIRS; do mount -t tmpfs -o mode=0755 tmpfs "$dir"; done
        # A fresh sysfs shows this network namespace. The cgroup tree (no namespace here
        # separates it from the machine) goes aside under the tmpfs of /run/netctl and back
        # on top; -n, or the move would be noted in /run/mount/utab of the machine.
        if mountpoint -q /sys/fs/cgroup; then
            mkdir /run/netctl/.cgroup
            mount --rbind /sys/fs/cgroup /run/netctl/.cgroup
            mount -t sysfs sysfs /sys
            mount -n --move /run/netctl/.cgroup /sys/fs/cgroup
            rmdir /run/netctl/.cgroup
        else
            mount -t sysfs sysfs /sys
        fi
        ip link set lo up
        exec "$@"' sandbox "$@"
