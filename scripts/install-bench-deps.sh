#!/usr/bin/env bash
# Installs the peers the side-by-side benchmarks run against, before `make bench` enters the
# sandbox (which has no network): Debian's reference CNI plugins, netavark, iperf3, and
# docker-proxy taken out of the docker.io package without installing the daemon.
set -euo pipefail

packages=(containernetworking-plugins netavark iperf3 python3)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ] || [ ! -x /tmp/dockerio/usr/sbin/docker-proxy ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-bench-deps: needs root to install ${missing[*]:-docker-proxy}" >&2
        exit 1
    fi
    apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-bench-deps: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -x /tmp/dockerio/usr/sbin/docker-proxy ]; then
    scratch=$(mktemp -d)
    (cd "$scratch" && apt-get download docker.io >/dev/null && dpkg -x docker.io_*.deb /tmp/dockerio)
    rm -rf "$scratch"
fi
