#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, when any is missing.
set -euo pipefail

packages=(
    pkg-config libmnl-dev libnftables-dev libnftnl-dev libsqlite3-dev  # build
    iproute2 nftables sqlite3 busybox-static netcat-openbsd procps iputils-ping graphviz strace  # tests and demo
    podman crun conmon  # end-to-end tests with real runtimes
    docker.io  # a real dockerd in the sandbox (brings containerd, runc, tini)
    etcd-server etcd-client openssl  # the etcd client's tests: a real etcd, and the certificates of its TLS tests
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
# No package may start its service (dockerd, containerd): without a policy-rc.d, one that
# refuses every start stands in for the install only.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
