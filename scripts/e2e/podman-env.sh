# Sourced by the end-to-end scripts that run podman 4.3 with its CNI backend on our plugins,
# in their private mount namespace: `podman_env WORK PLUGIN_DIR` mounts tmpfs for podman's root,
# run root and /dev/shm, writes WORK/containers.conf (cgroups off, crun, CNI configs in
# WORK/net.d, plugins from PLUGIN_DIR) and sets `podman` to the command to run.
podman_env() {
    local work="$1" plugins="$2"
    mkdir -p "$work/net.d" "$work/root" "$work/run"
    mount -t tmpfs tmpfs "$work/root"
    mount -t tmpfs tmpfs "$work/run"
    mount -t tmpfs tmpfs /dev/shm
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    cat > "$work/containers.conf" <<CONF
[containers]
cgroups="disabled"
default_ulimits=["nofile=20000:20000","nproc=32768:32768"]
[engine]
cgroup_manager="cgroupfs"
events_logger="file"
runtime="crun"
[network]
network_backend="cni"
cni_plugin_dirs=["$plugins"]
network_config_dir="$work/net.d"
CONF
    export CONTAINERS_CONF="$work/containers.conf"
    podman=(podman --root "$work/root" --runroot "$work/run" --storage-driver vfs)
}
