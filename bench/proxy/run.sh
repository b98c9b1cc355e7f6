#!/usr/bin/env bash
# Port proxy benchmark: netctl-proxy against Debian's docker-proxy on the same path, a loopback
# host port forwarded to a server in a container namespace over a veth pair.
#
#   bench/proxy/run.sh [BUILD_DIR]     (BUILD_DIR holds netctl-proxy; default .build/release)
#
# Measures, each proxy in turn on the same path with interleaved repetitions:
#   (a) one TCP stream's throughput (iperf3, median of REPS runs of SECONDS_PER_RUN s) and the
#       proxy's CPU time per GB moved;
#   (b) the rate and p99 latency of CONNS sequential connections that each echo one byte;
#   (d) UDP 1400-byte datagrams delivered per second at an unlimited send rate;
#   (c) RSS and PSS per published port: one netctl-proxy serving 50 ports against 50
#       docker-proxy processes, one per port (from /proc/PID/smaps_rollup).
# It re-executes itself inside scripts/sandbox.sh, so every address it touches is loopback or in
# the namespace it creates there. Needs root (the sandbox does).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/.build/release}" && pwd)
ours="$build/netctl-proxy"
theirs="${DOCKER_PROXY:-/tmp/dockerio/usr/sbin/docker-proxy}"
REPS=${REPS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-5000}
PORTS=50

if [ ! -x "$ours" ]; then
    echo "proxy bench: $ours is missing; build it: swift build -c release --product netctl-proxy" >&2
    exit 1
fi
if [ "${NETCTL_SANDBOX:-}" != 1 ]; then
    exec "$root/scripts/sandbox.sh" "$0" "$build"
fi

# --- tools: iperf3 from Debian, docker-proxy from the docker.io package without the daemon
if ! command -v iperf3 >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null
fi
if [ ! -x "$theirs" ]; then
    scratch=$(mktemp -d)
    (cd "$scratch" && { apt-get download docker.io >/dev/null 2>&1 || { apt-get update -qq && apt-get download docker.io >/dev/null; }; } \
        && dpkg -x docker.io_*.deb /tmp/dockerio)
    rm -rf "$scratch"
fi

# The connection-rate client and server: a small Swift program, so the load generator is not
# the bottleneck it would be in a scripting language.
tools=$(mktemp -d)
swiftc -O -o "$tools/connection-rate" "$here/ConnectionRate.swift"
rate_tool="$tools/connection-rate"

# --- the path: host (this sandbox) --veth--> container namespace at 10.200.0.2
netns=pxbench
container=10.200.0.2
started=()
cleanup() {
    for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$netns" 2>/dev/null || true
    rm -rf "$tools" /tmp/pxbench.*
}
trap cleanup EXIT

ip netns add "$netns"
ip link add vh0 type veth peer name vc0 netns "$netns"
ip addr add 10.200.0.1/24 dev vh0
ip link set vh0 up
ip -n "$netns" addr add "$container/24" dev vc0
ip -n "$netns" link set vc0 up
ip -n "$netns" link set lo up
# Sequential short connections leave TIME_WAIT sockets behind; let the client reuse them, and
# keep the ephemeral range clear of the host ports the proxies listen on (all below 20000).
echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse
echo "20000 65000" > /proc/sys/net/ipv4/ip_local_port_range

ip netns exec "$netns" iperf3 -s -p 5201 >/dev/null 2>&1 &
started+=($!)
ip netns exec "$netns" "$rate_tool" server 7000 &
started+=($!)
sleep 0.5

# A proxy from host port $2 to the container port $3; sets $proxy_pid.
start_ours() {
    "$ours" --forward "tcp:127.0.0.1:$1=$container:$2" </dev/null >/dev/null 2>&1 &
    proxy_pid=$!
    started+=($proxy_pid)
}
start_theirs() {
    # docker-proxy reports readiness on descriptor 3, as dockerd expects; without one open it
    # closes its own listener, which takes that number.
    "$theirs" -proto tcp -host-ip 127.0.0.1 -host-port "$1" -container-ip "$container" -container-port "$2" \
        </dev/null >/dev/null 2>>"$tools/docker-proxy.log" 3>/dev/null &
    proxy_pid=$!
    started+=($proxy_pid)
}
stop_proxy() {
    if ! kill "$1" 2>/dev/null; then
        echo "proxy bench: proxy $1 had exited early; docker-proxy's log:" >&2
        cat "$tools/docker-proxy.log" >&2
        exit 1
    fi
    wait "$1" 2>/dev/null || true
}
cpu_seconds() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Gb/s and bytes received by one iperf3 run against $1:$2.
iperf() {
    iperf3 -c "$1" -p "$2" -t "$SECONDS_PER_RUN" -J \
        | python3 -c 'import json,sys; r=json.load(sys.stdin)["end"]["sum_received"]; print(r["bits_per_second"]/1e9, r["bytes"])'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}' if $2 else 'n/a')"; }

# --- (a) one TCP stream, interleaved runs so drift in the machine's load hits both alike
declare -A gbps cpu_per_gb
for name in direct ours theirs; do : > "/tmp/pxbench.$name"; done
for rep in $(seq "$REPS"); do
    read -r rate _ < <(iperf "$container" 5201)
    echo "$rate" >> /tmp/pxbench.direct
    for name in ours theirs; do
        "start_$name" 15201 5201
        sleep 0.3
        before=$(cpu_seconds "$proxy_pid")
        read -r rate bytes < <(iperf 127.0.0.1 15201)
        after=$(cpu_seconds "$proxy_pid")
        stop_proxy "$proxy_pid"
        echo "$rate" >> "/tmp/pxbench.$name"
        python3 -c "print(($after - $before) / ($bytes / 1e9))" >> "/tmp/pxbench.$name.cpu"
        echo "  stream rep $rep $name: $rate Gb/s" >&2
    done
done
for name in direct ours theirs; do gbps[$name]=$(median < "/tmp/pxbench.$name"); done
for name in ours theirs; do cpu_per_gb[$name]=$(median < "/tmp/pxbench.$name.cpu"); done

# --- (b) connection rate, each proxy on fresh host ports
declare -A rate p99 cpu_per_connection
for name in direct ours theirs; do : > "/tmp/pxbench.rate.$name"; : > "/tmp/pxbench.p99.$name"; : > "/tmp/pxbench.conncpu.$name"; done
port=16000
for rep in $(seq "$REPS"); do
    for name in direct ours theirs; do
        if [ "$name" = direct ]; then
            result=$("$rate_tool" client "$container" 7000 "$CONNS")
        else
            port=$((port + 1))
            "start_$name" "$port" 7000
            sleep 0.3
            before=$(cpu_seconds "$proxy_pid")
            result=$("$rate_tool" client 127.0.0.1 "$port" "$CONNS")
            after=$(cpu_seconds "$proxy_pid")
            stop_proxy "$proxy_pid"
            python3 -c "print(($after - $before) / $CONNS * 1e6)" >> "/tmp/pxbench.conncpu.$name"
        fi
        python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['failures']==0, r; print(r['rate'])" "$result" >> "/tmp/pxbench.rate.$name"
        python3 -c "import json,sys; print(json.loads(sys.argv[1])['p99_us'])" "$result" >> "/tmp/pxbench.p99.$name"
        echo "  connections rep $rep $name: $result" >&2
    done
done
for name in direct ours theirs; do
    rate[$name]=$(median < "/tmp/pxbench.rate.$name")
    p99[$name]=$(median < "/tmp/pxbench.p99.$name")
done
for name in ours theirs; do cpu_per_connection[$name]=$(median < "/tmp/pxbench.conncpu.$name"); done

# --- (d) UDP, 1400-byte datagrams at an unlimited rate (iperf3 keeps its control connection on
# the same TCP port, so each proxy forwards both protocols: docker-proxy needs two processes)
udp() {
    iperf3 -c "$1" -p "$2" -u -b 0 -l 1400 -t "$SECONDS_PER_RUN" -J | python3 -c '
import json, sys
r = json.load(sys.stdin)["end"]["sum"]
print((r["packets"] - r["lost_packets"]) / r["seconds"], r["lost_percent"])'
}
declare -A pps loss
for name in direct ours theirs; do : > "/tmp/pxbench.pps.$name"; : > "/tmp/pxbench.loss.$name"; done
for rep in $(seq "$REPS"); do
    read -r rate lost < <(udp "$container" 5201)
    echo "$rate" >> /tmp/pxbench.pps.direct
    echo "$lost" >> /tmp/pxbench.loss.direct
    for name in ours theirs; do
        if [ "$name" = ours ]; then
            "$ours" --forward "tcp:127.0.0.1:15301=$container:5201" --forward "udp:127.0.0.1:15301=$container:5201" \
                </dev/null >/dev/null 2>&1 &
            pids=($!)
        else
            start_theirs 15302 5201
            pids=($proxy_pid)
            "$theirs" -proto udp -host-ip 127.0.0.1 -host-port 15302 -container-ip "$container" -container-port 5201 \
                </dev/null >/dev/null 2>>"$tools/docker-proxy.log" 3>/dev/null &
            pids+=($!)
        fi
        started+=("${pids[@]}")
        sleep 0.3
        read -r rate lost < <(udp 127.0.0.1 $([ "$name" = ours ] && echo 15301 || echo 15302))
        for pid in "${pids[@]}"; do stop_proxy "$pid"; done
        echo "$rate" >> "/tmp/pxbench.pps.$name"
        echo "$lost" >> "/tmp/pxbench.loss.$name"
        echo "  udp rep $rep $name: $rate datagrams/s, $lost % lost" >&2
    done
done
for name in direct ours theirs; do
    pps[$name]=$(median < "/tmp/pxbench.pps.$name")
    loss[$name]=$(median < "/tmp/pxbench.loss.$name")
done

# --- (c) memory per published port
kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/smaps_rollup"; }
"$ours" --forward "tcp:127.0.0.1:11000-$((11000 + PORTS - 1))=$container:7000-$((7000 + PORTS - 1))" \
    </dev/null >/dev/null 2>&1 &
ours_pid=$!
started+=($ours_pid)
theirs_pids=()
for offset in $(seq 0 $((PORTS - 1))); do
    start_theirs $((12000 + offset)) $((7000 + offset))
    theirs_pids+=($proxy_pid)
done
sleep 1
ours_rss=$(kib "$ours_pid" Rss)
ours_pss=$(kib "$ours_pid" Pss)
theirs_rss=0
theirs_pss=0
for pid in "${theirs_pids[@]}"; do
    theirs_rss=$((theirs_rss + $(kib "$pid" Rss)))
    theirs_pss=$((theirs_pss + $(kib "$pid" Pss)))
done
ours_threads=$(awk '/^Threads:/ { print $2 }' "/proc/$ours_pid/status")
theirs_threads=$(awk '/^Threads:/ { print $2 }' "/proc/${theirs_pids[0]}/status")
per_port() { python3 -c "print(f'{$1 / $PORTS / 1024:.3f}')"; }

fmt() { printf "%.${2:-0}f" "$1"; }
cat <<TABLE

| $PORTS ports, one TCP stream ${SECONDS_PER_RUN} s × $REPS, $CONNS connections × $REPS | direct | netctl-proxy | docker-proxy | ours / theirs | goal |
|---|---|---|---|---|---|
| TCP throughput, one stream (Gb/s, median) | $(fmt "${gbps[direct]}" 2) | $(fmt "${gbps[ours]}" 2) | $(fmt "${gbps[theirs]}" 2) | $(ratio "${gbps[ours]}" "${gbps[theirs]}") | ≥ 1 |
| proxy CPU per GB moved (s) | | $(fmt "${cpu_per_gb[ours]}" 2) | $(fmt "${cpu_per_gb[theirs]}" 2) | $(ratio "${cpu_per_gb[ours]}" "${cpu_per_gb[theirs]}") | |
| connections/s (connect, 1-byte echo, close) | $(fmt "${rate[direct]}") | $(fmt "${rate[ours]}") | $(fmt "${rate[theirs]}") | $(ratio "${rate[ours]}" "${rate[theirs]}") | ≥ 1 |
| proxy CPU per connection (µs) | | $(fmt "${cpu_per_connection[ours]}") | $(fmt "${cpu_per_connection[theirs]}") | $(ratio "${cpu_per_connection[ours]}" "${cpu_per_connection[theirs]}") | |
| connection p99 latency (µs) | $(fmt "${p99[direct]}") | $(fmt "${p99[ours]}") | $(fmt "${p99[theirs]}") | $(ratio "${p99[ours]}" "${p99[theirs]}") | |
| UDP 1400-byte datagrams delivered/s, unlimited rate | $(fmt "${pps[direct]}") | $(fmt "${pps[ours]}") | $(fmt "${pps[theirs]}") | $(ratio "${pps[ours]}" "${pps[theirs]}") | |
| UDP datagrams lost (%) | $(fmt "${loss[direct]}" 1) | $(fmt "${loss[ours]}" 1) | $(fmt "${loss[theirs]}" 1) | | |
| RSS per published port (MiB) | | $(per_port "$ours_rss") | $(per_port "$theirs_rss") | $(ratio "$ours_rss" "$theirs_rss") | ≤ 0.5 |
| PSS per published port (MiB) | | $(per_port "$ours_pss") | $(per_port "$theirs_pss") | $(ratio "$ours_pss" "$theirs_pss") | ≤ 0.5 |
| processes / threads for $PORTS ports | | 1 / $ours_threads | $PORTS / $((PORTS * theirs_threads)) | | |
TABLE
