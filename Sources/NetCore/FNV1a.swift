/// The 64-bit FNV-1a hash: small, fast and stable across builds and hosts, for names derived
/// from identifiers (host-side interface names, lock files, MAC addresses) that must come out
/// the same in every process that derives them. Not for anything an adversary chooses to collide.
public enum FNV1a {
    public static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }
}
