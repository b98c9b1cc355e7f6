/// "Did you mean" for a first word that is no command: a misspelt command, or a subcommand
/// typed without its group (`netctl ls`).
enum Suggestions {
    /// The message for `word`, or `nil` when `word` is a command (or an option).
    static func unknownCommand(_ word: String) -> String? {
        let commands = NetctlCommand.configuration.subcommands
        let names = commands.flatMap { [$0._commandName] + $0.configuration.aliases } + ["help"]
        guard !word.hasPrefix("-"), !names.contains(word) else { return nil }
        // A subcommand of a group, at most two groups in the root's order: `ls` is most
        // likely `network ls` or `sandbox ls`.
        let grouped = commands.compactMap { group -> String? in
            let children = group.configuration.subcommands
            guard children.contains(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) else { return nil }
            return "\(group._commandName) \(word)"
        }
        let close = names.filter { editDistance($0, word) <= min(2, max(1, word.count / 3)) }
        let candidates = Array((grouped.isEmpty ? close : grouped).prefix(2))
        let hint = candidates.isEmpty
            ? "see 'netctl --help'"
            : "did you mean " + candidates.map { "'\($0)'" }.joined(separator: " or ") + "?"
        return "netctl: unknown command '\(word)'; \(hint)"
    }

    /// Levenshtein distance, with a swap of neighbours counting as one edit (`craete`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
