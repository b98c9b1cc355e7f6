#!/usr/bin/env bash
# A real dockerd (Debian's docker.io 20.10) for the tests, inside the test sandbox only
# (scripts/sandbox.sh: its network namespace, and tmpfs over /run/docker, /run/containerd,
# /etc/docker, /var/lib/docker and /var/lib/containerd). Containers run from `bb`, an image
# imported from busybox-static: no registry.
#
#   dockerd.sh start DIR   starts containerd and dockerd in the background (PIDs and logs in
#                          DIR), the API on unix://DIR/docker.sock, and imports `bb`; prints
#                          errors only. Exits 77, with the reason, when docker.io or
#                          busybox-static is not installed.
#   dockerd.sh stop DIR    removes the containers, stops the daemons (SIGTERM, SIGKILL after
#                          10 s), empties the state directories and DIR, and removes the empty
#                          `docker` cgroups (the cgroup tree is the machine's).
#
# DOCKERD_FLAGS goes after the default flags and so overrides them: DOCKERD_FLAGS="--iptables=true
# --bridge=" gives Docker's own docker0 bridge, iptables rules (in the sandbox's namespace) and
# docker-proxy. One dockerd at a time in a sandbox: they share the state directories.
# Call /usr/bin/docker, the CLI of the same version, with -H unix://DIR/docker.sock (a unix
# socket path has at most 107 bytes).
set -euo pipefail

docker=/usr/bin/docker
state_dirs="/run/docker /run/containerd /etc/docker /var/lib/docker /var/lib/containerd"
# The daemons find runc, docker-proxy, docker-init and iptables here, and nothing else.
daemon_path=/usr/sbin:/usr/bin:/sbin:/bin

fail() { echo "dockerd.sh: $*" >&2; exit 1; }

[ $# = 2 ] && [ -n "$2" ] || { echo "usage: dockerd.sh start|stop|restart DIR" >&2; exit 2; }
command=$1
dir=$(realpath -m "$2")
[ "$dir" != / ] || fail "DIR may not be /"

# Never outside the sandbox: the daemons would take the machine's own state. The sandbox's
# network namespace is not the one of the process that started it, an ancestor of this one.
in_new_netns() {
    local own pid=$PPID ns
    own=$(readlink /proc/self/ns/net)
    while [ "$pid" -gt 1 ]; do
        ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || return 1
        [ "$ns" = "$own" ] || return 0
        pid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
    done
    return 1
}
[ "${NETCTL_SANDBOX:-}" = 1 ] || fail "runs only inside the test sandbox (scripts/sandbox.sh)"
in_new_netns || fail "NETCTL_SANDBOX=1, but this is not the sandbox's network namespace"

alive() {  # PID: not gone, and not a zombie (the machine's init reaps those)
    local state
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

is_ours() {  # PID EXE: that process is alive, runs EXE and lives in this network namespace
    [ -n "$1" ] && alive "$1" && [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ] \
        && [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]
}

# Sends SIGTERM, then SIGKILL after 10 s, and waits until the process is gone.
terminate() {  # PID EXE
    is_ours "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 200); do alive "$1" || return 0; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
    for _ in $(seq 200); do alive "$1" || return 0; sleep 0.05; done
    echo "dockerd.sh: $2 ($1) survives SIGKILL" >&2
}

start() {
    local missing=()
    for binary in /usr/sbin/dockerd /usr/bin/containerd /usr/sbin/runc "$docker"; do
        [ -x "$binary" ] || missing+=("$binary")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "dockerd.sh: docker.io is not installed (no ${missing[*]}; scripts/install-deps.sh)" >&2
        exit 77
    fi
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || {
        echo "dockerd.sh: busybox-static is not installed (scripts/install-deps.sh)" >&2
        exit 77
    }
    for state in $state_dirs; do
        [ "$(findmnt -n -o FSTYPE --mountpoint "$state" 2>/dev/null)" = tmpfs ] \
            || fail "$state is not a tmpfs of the sandbox (scripts/sandbox.sh mounts it when docker.io is installed)"
    done
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || fail "$dir is not empty"
    # One at a time: the owner's DIR, made with O_EXCL; `stop DIR` removes it with the state.
    if ! (set -o noclobber; echo "$dir" > /run/containerd/dockerd-sh.owner) 2>/dev/null; then
        fail "a dockerd runs in this sandbox already: dockerd.sh stop $(cat /run/containerd/dockerd-sh.owner)"
    fi
    : > "$dir/.dockerd-sh"  # the mark `stop` wants before it touches anything
    # From here a failure stops what started.
    trap 'if [ $? != 0 ]; then stop; fi' EXIT

    # dockerd 20.10 raises kernel.keys.root_maxkeys and root_maxbytes (the machine's, not the
    # namespace's) when they are below 1000000 / 25000000: it may only read them here.
    if ! mountpoint -q /proc/sys/kernel/keys; then
        mount --bind /proc/sys/kernel/keys /proc/sys/kernel/keys
        mount -o remount,bind,ro /proc/sys/kernel/keys
    fi
    # modprobe would load modules into the machine's kernel: the daemons find one that refuses.
    mkdir "$dir/bin"
    printf '#!/bin/sh\necho "modprobe $*: refused in the test sandbox" >&2\nexit 1\n' > "$dir/bin/modprobe"
    chmod 0755 "$dir/bin/modprobe"

    cat > "$dir/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
EOF
    # Both leave the test's output alone (a pipe kept open would never end) and get no
    # system bus (dockerd would look for the machine's firewalld there); iptables-legacy,
    # if that is the machine's iptables, takes its lock in DIR rather than /run.
    local daemon_env=(env PATH="$dir/bin:$daemon_path" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/no-system-bus"
        XTABLES_LOCKFILE="$dir/xtables.lock")
    local deadline=$((SECONDS + 60))
    "${daemon_env[@]}" /usr/bin/containerd --config "$dir/containerd.toml" </dev/null >"$dir/containerd.log" 2>&1 &
    echo $! > "$dir/containerd.pid"
    while [ $SECONDS -lt $deadline ]; do
        [ -S /run/containerd/containerd.sock ] && break
        is_ours "$(cat "$dir/containerd.pid")" /usr/bin/containerd || break
        sleep 0.05
    done
    [ -S /run/containerd/containerd.sock ] || failed containerd /usr/bin/containerd

    launch_dockerd "$deadline"

    # The image: busybox-static and a link for each of its applets (/bin/sh, httpd, ip, ...).
    local rootfs="$dir/rootfs"
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    chroot "$rootfs" /bin/busybox --install -s /bin
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
    tar -C "$rootfs" -c . | "$docker" -H "unix://$dir/docker.sock" import -c 'CMD ["/bin/sh"]' - bb >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
}


# Starts dockerd on the running containerd and waits until its API answers.
launch_dockerd() {  # DEADLINE (in $SECONDS)
    local deadline=$1
    local daemon_env=(env PATH="$dir/bin:$daemon_path" DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/no-system-bus"
        XTABLES_LOCKFILE="$dir/xtables.lock")
    # shellcheck disable=SC2086  # DOCKERD_FLAGS is a list of flags
    "${daemon_env[@]}" /usr/sbin/dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
        --exec-opt native.cgroupdriver=cgroupfs --data-root=/var/lib/docker --exec-root=/run/docker \
        --pidfile="$dir/dockerd.pidfile" --host="unix://$dir/docker.sock" \
        --containerd=/run/containerd/containerd.sock ${DOCKERD_FLAGS:-} \
        </dev/null >"$dir/dockerd.log" 2>&1 &
    echo $! > "$dir/dockerd.pid"
    local ready=
    while [ $SECONDS -lt $deadline ]; do
        if [ -S "$dir/docker.sock" ] && "$docker" -H "unix://$dir/docker.sock" info >/dev/null 2>&1; then
            ready=1; break
        fi
        is_ours "$(cat "$dir/dockerd.pid")" /usr/sbin/dockerd || break
        sleep 0.1
    done
    [ -n "$ready" ] || failed dockerd /usr/sbin/dockerd
}

# Stops dockerd alone (containerd and every state stay) and starts it again, as a daemon
# upgrade or a crash-and-restart does: what dockerd replays then is what it kept.
restart() {
    [ -e "$dir/.dockerd-sh" ] || fail "$dir was not started by dockerd.sh"
    terminate "$(cat "$dir/dockerd.pid")" /usr/sbin/dockerd
    rm -f "$dir/docker.sock"
    launch_dockerd $((SECONDS + 60))
}

failed() {  # NAME EXE: the daemon that exited or did not answer in time, with its log's end
    if is_ours "$(cat "$dir/$1.pid")" "$2"; then
        echo "dockerd.sh: $1 did not answer within 60 s; the end of its log:" >&2
    else
        echo "dockerd.sh: $1 exited; the end of its log:" >&2
    fi
    tail -n 15 "$dir/$1.log" >&2
    exit 1
}

stop() {
    [ -e "$dir/.dockerd-sh" ] || return 0
    # Containers go first, at once: dockerd would give each 10 s to stop on SIGTERM.
    if is_ours "$(cat "$dir/dockerd.pid" 2>/dev/null)" /usr/sbin/dockerd; then
        local ids
        ids=$(timeout 10 "$docker" -H "unix://$dir/docker.sock" ps -aq 2>/dev/null) || true
        # shellcheck disable=SC2086
        [ -z "$ids" ] || timeout 60 "$docker" -H "unix://$dir/docker.sock" rm -f $ids >/dev/null 2>&1 || true
    fi
    [ ! -e "$dir/dockerd.pid" ] || terminate "$(cat "$dir/dockerd.pid")" /usr/sbin/dockerd
    [ ! -e "$dir/containerd.pid" ] || terminate "$(cat "$dir/containerd.pid")" /usr/bin/containerd
    # A container dockerd could not stop outlives both, with its shim (neither is their
    # child): containerd's task directory names it, the shim holds its process.
    if [ "$(cat /run/containerd/dockerd-sh.owner 2>/dev/null)" = "$dir" ]; then
        local task shim init
        for task in /run/containerd/io.containerd.runtime.v2.task/*/*; do
            [ -d "$task" ] || continue
            init=$(cat "$task/init.pid" 2>/dev/null) || init=
            for shim in $(pgrep -f -- "-id ${task##*/} -address" || true); do
                is_ours "$shim" /usr/bin/containerd-shim-runc-v2 || continue
                if [ -n "$init" ] && [ "$(awk '/^PPid:/ { print $2 }' "/proc/$init/status" 2>/dev/null)" = "$shim" ]; then
                    kill -KILL "$init" 2>/dev/null || true
                    for _ in $(seq 100); do alive "$init" || break; sleep 0.05; done
                fi
                kill -KILL "$shim" 2>/dev/null || true  # a shim ignores SIGTERM
                for _ in $(seq 100); do alive "$shim" || break; sleep 0.05; done
            done
        done
        # The daemons are gone: their state goes, so the next start begins afresh.
        for state in /run/containerd /var/lib/containerd /var/lib/docker /etc/docker; do
            [ "$(findmnt -n -o FSTYPE --mountpoint "$state" 2>/dev/null)" = tmpfs ] \
                && find "$state" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
        done
    fi
    # cgroupfs made /sys/fs/cgroup/*/docker (cgroup v1) or /sys/fs/cgroup/docker (v2) on the
    # machine's cgroup tree; rmdir takes only cgroups without processes or children.
    for cgroup in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do
        [ -d "$cgroup" ] && find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
}

case "$command" in
start) start ;;
stop) stop ;;
restart) restart ;;
*) echo "usage: dockerd.sh start|stop|restart DIR" >&2; exit 2 ;;
esac
