#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the time of one short-lived process goes, for the benchmarks: with
/// `NETCTL_PHASE_TRACE` set in its environment, each ``mark(_:)`` writes one line
/// `netctl-phase NAME NANOSECONDS CPU` (`CLOCK_MONOTONIC`, and the process's CPU time, both in
/// nanoseconds) to stderr, and the caller that spawned the process (bench-cni's `--steps`)
/// turns the gaps between them into a table: the phase named by a mark is the time since the
/// mark before it (since the fork for the first). The CPU time tells work from waiting: at the
/// first mark it is what the exec, the loader and the runtime's start-up cost the process.
///
/// Without the variable a mark costs one predictable branch: the CNI plugins carry it.
public enum PhaseTrace {
    /// Read once, on the first mark.
    public static let isEnabled: Bool = getenv("NETCTL_PHASE_TRACE") != nil

    /// Ends the phase `name` now.
    @inline(__always)
    public static func mark(_ name: StaticString) {
        guard isEnabled else { return }
        emit(name)
    }

    @inline(never)
    private static func emit(_ name: StaticString) {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let nanoseconds = UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        var cpu = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu)
        let cpuNanoseconds = UInt64(cpu.tv_sec) * 1_000_000_000 + UInt64(cpu.tv_nsec)
        var line = Array("netctl-phase ".utf8)
        name.withUTF8Buffer { line.append(contentsOf: $0) }
        line.append(0x20)
        line.append(contentsOf: String(nanoseconds).utf8)
        line.append(0x20)
        line.append(contentsOf: String(cpuNanoseconds).utf8)
        line.append(0x0A)
        // One write per line: a line is never split between two marks.
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
