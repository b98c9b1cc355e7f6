# Simulated hosts for the overlay test and benchmark (sourced): the caller's network namespace
# is the underlay, a bridge ubr0 (10.99.0.254/24); host N is namespace hN with 10.99.0.N on
# its eth0, its own store ($work/hN) and its own `netctld agent`; etcd listens on a unix socket
# in $work with its data on tmpfs. Needs: $work, $data, $products; sets agent_pid[N], etcd_pid.
netctl="$products/netctl" netctld="$products/netctld"
ttl="${ttl:-4}"
declare -A agent_pid=()
etcd_pid=

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Polls CMD (quietly) until it succeeds, for at most $1 seconds; prints the milliseconds it took.
within() {
    local limit=$(( $1 * 1000 )) start; shift
    start=$(now_ms)
    while ! "$@" >/dev/null 2>&1; do
        if (( $(now_ms) - start > limit )); then echo "timeout"; return 1; fi
        sleep 0.05
    done
    echo $(( $(now_ms) - start ))
}
ok() { within "$@" >/dev/null && echo yes || echo no; }
# on N CMD...: CMD in host N's namespace with host N's store.
on() { local host="$1"; shift; ip netns exec "h$host" env NETCTL_STATE_DIR="$work/h$host" "$@"; }
etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints "unix://$work/etcd.sock:0" "$@"; }
ping_() { ip netns exec "$1" ping -c1 -W1 "$2" >/dev/null 2>&1; }
address_of() { ip -n "$1" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }

underlay() {
    sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip link add ubr0 type bridge && ip addr add 10.99.0.254/24 dev ubr0 && ip link set ubr0 up
}
add_host() {
    local n="$1"
    ip netns add "h$n"
    ip link add "u$n" type veth peer name eth0 netns "h$n"
    ip link set "u$n" master ubr0 up
    ip -n "h$n" link set lo up
    ip -n "h$n" addr add "10.99.0.$n/24" dev eth0
    ip -n "h$n" link set eth0 up
    mkdir -p "$work/h$n"
}
start_etcd() {
    (cd "$work" && exec etcd --name t1 --data-dir "$data" --listen-client-urls unix://etcd.sock:0 \
        --advertise-client-urls unix://etcd.sock:0 --listen-peer-urls unix://peer.sock:0 \
        --initial-advertise-peer-urls unix://peer.sock:0 --initial-cluster t1=unix://peer.sock:0 \
        --logger zap --log-level error >>"$work/etcd.log" 2>&1) &
    etcd_pid=$!
    disown "$!"
    within 10 etcdctl_ endpoint health >/dev/null
}
start_agent() {
    local host="$1"; shift
    ip netns exec "h$host" env NETCTL_STATE_DIR="$work/h$host" "$netctld" agent --store "unix://$work/etcd.sock:0" \
        --advertise "10.99.0.$host" --lease-ttl "$ttl" --host-name "h$host" "$@" >>"$work/agent-h$host.log" 2>&1 &
    agent_pid[$host]=$!
    disown "$!" # no "Killed" notice when a test kills it
}
# stop SIGNAL PID: signals a process started here and waits (up to 10 s) until it is gone.
stop() {
    kill "-$1" "$2" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.05; done
}
stop_everything() {
    # KILL: a test runner hands its children SIGTERM blocked.
    for pid in "${agent_pid[@]}" $etcd_pid; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    for ns in $(ip netns list | awk '{print $1}'); do ip netns delete "$ns" 2>/dev/null; done
}
