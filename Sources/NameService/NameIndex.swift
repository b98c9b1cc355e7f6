import NetCore

/// The names of one network, looked up by a question's labels where they lie in the packet:
/// no `String`, array or ``DNSName`` is made per query. Keys are lower-cased dotted names, as
/// ``DNSName/key`` makes them; the table is open addressing over FNV-1a hashes of those bytes.
struct NameIndex: Sendable {
    struct Entry: Sendable {
        var keyStart: Int32
        var keyCount: Int32
        var hash: UInt32
        /// The name's addresses: `addresses[addressStart ..< addressStart + addressCount]`, in
        /// the order the store gave them (an ANY answer keeps it).
        var addressStart: Int32
        var addressCount: Int32
    }

    private var keyBytes: [UInt8] = []
    private var entries: [Entry] = []
    private(set) var addresses: [IPAddress] = []
    /// An entry's index + 1 per slot; 0 is an empty slot. A power of two at least twice the entries.
    private var slots: [Int32] = []

    init(_ names: [String: [IPAddress]]) {
        guard !names.isEmpty else { return }
        var capacity = 8
        while capacity < names.count * 2 { capacity <<= 1 }
        slots = [Int32](repeating: 0, count: capacity)
        for (name, list) in names {
            let key = Array(name.utf8)
            var hash = Self.basis
            for byte in key { hash = Self.mix(hash, Self.lower(byte)) }
            let entry = Entry(keyStart: Int32(keyBytes.count), keyCount: Int32(key.count), hash: hash,
                              addressStart: Int32(addresses.count), addressCount: Int32(list.count))
            keyBytes += key.map(Self.lower)
            addresses += list
            entries.append(entry)
            var slot = Int(hash) & (capacity - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (capacity - 1) }
            slots[slot] = Int32(entries.count)
        }
    }

    static let basis: UInt32 = 0x811C_9DC5

    @inline(__always) static func mix(_ hash: UInt32, _ byte: UInt8) -> UInt32 { (hash ^ UInt32(byte)) &* 0x0100_0193 }

    /// ASCII upper case to lower (RFC 4343); every other byte as it is.
    @inline(__always) static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// The entry for the name made of the first `labels` labels of the uncompressed name at
    /// `start` in `packet` (already checked to lie inside it), joined by dots.
    func entry(in packet: UnsafeRawBufferPointer, nameAt start: Int, labels: Int) -> Entry? {
        guard !slots.isEmpty, labels > 0 else { return nil }
        var hash = Self.basis
        var length = 0
        var position = start
        for label in 0..<labels {
            if label > 0 {
                hash = Self.mix(hash, 0x2E)
                length += 1
            }
            let count = Int(packet[position])
            for offset in (position + 1)..<(position + 1 + count) { hash = Self.mix(hash, Self.lower(packet[offset])) }
            length += count
            position += 1 + count
        }
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while true {
            let index = Int(slots[slot])
            guard index != 0 else { return nil }
            let entry = entries[index - 1]
            if entry.hash == hash, Int(entry.keyCount) == length, matches(entry, packet, start, labels) { return entry }
            slot = (slot + 1) & mask
        }
    }

    private func matches(_ entry: Entry, _ packet: UnsafeRawBufferPointer, _ start: Int, _ labels: Int) -> Bool {
        var key = Int(entry.keyStart)
        var position = start
        for label in 0..<labels {
            if label > 0 {
                guard keyBytes[key] == 0x2E else { return false }
                key += 1
            }
            let count = Int(packet[position])
            for offset in (position + 1)..<(position + 1 + count) {
                guard keyBytes[key] == Self.lower(packet[offset]) else { return false }
                key += 1
            }
            position += 1 + count
        }
        return true
    }
}
