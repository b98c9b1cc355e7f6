#!/usr/bin/env python3
"""Where processes slept during a benchmark, from scheduler switches with kernel stacks: what
BENCHMARKS.md's "The tail of a chain call" was found with.

    perf record -e sched:sched_switch -g -a -o sched.data -- sleep 40 &    (on the host: the
        sandbox has no tracefs)
    scripts/sandbox.sh .build-static/release/bench-cni --steps 150 --chains portmap
    perf script -i sched.data > sched.txt
    bench/cni/offcpu.py sched.txt

For every switch away from a task in uninterruptible sleep (state D) it takes the kernel stack,
and when the task runs again, the time it slept. Groups the sleeps by command name, whose
binary it was (ours: netctl-cni; the reference: /usr/lib/cni), the first waiting primitive on
the stack (a mutex, a grace period, an RCU barrier, a page read) and the first networking or
nftables function under it, and prints the groups by total time slept.
"""
import collections
import re
import sys

SWITCH = re.compile(r"\s(\d+\.\d+): sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ "
                    r"prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
WAITS = ("synchronize", "rcu_barrier", "mutex_lock", "io_schedule", "wait_for_completion")
PLACES = ("rtnl_", "nf_tables", "nft_", "veth", "unregister", "cleanup_net", "filemap", "nfnetlink", "rtnetlink")


def main(path):
    asleep = {}  # pid -> (group, since)
    slept = collections.defaultdict(list)
    with open(path) as file:
        blocks = file.read().split("\n\n")
    for block in blocks:
        lines = block.strip().split("\n")
        match = SWITCH.search(lines[0]) if lines else None
        if not match:
            continue
        when, command, pid, state, woken = float(match[1]), match[2], int(match[3]), match[4], int(match[6])
        if woken in asleep:
            group, since = asleep.pop(woken)
            slept[group].append((when - since) * 1e3)
        if not state.startswith("D"):
            continue
        kernel = [line.split()[1].split("+")[0] for line in lines[1:] if "kernel.kallsyms" in line]
        binary = "ours" if "netctl-cni" in block else "reference" if "/usr/lib/cni" in block else "other"
        wait = next((name for name in kernel if any(key in name for key in WAITS)), kernel[2] if len(kernel) > 2 else "?")
        place = next((name for name in kernel if any(key in name for key in PLACES)), "")
        asleep[pid] = ((command.split("/")[0], binary, wait, place), when)
    print("| task | binary | waiting in | under | sleeps | total ms | median ms | max ms | over 5 ms |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for (command, binary, wait, place), times in sorted(slept.items(), key=lambda item: -sum(item[1]))[:25]:
        times.sort()
        print(f"| {command} | {binary} | `{wait}` | `{place}` | {len(times)} | {sum(times):.1f} | {times[len(times) // 2]:.2f} "
              f"| {times[-1]:.2f} | {sum(1 for t in times if t > 5)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
