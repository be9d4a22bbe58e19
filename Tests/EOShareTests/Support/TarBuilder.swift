/// Writes tar archives block by block, including what no honest tool writes (escaping
/// names, links, devices, broken checksums), so the tests can hand the unpacker anything.
struct TarBuilder {
    enum Magic {
        /// POSIX ustar: `ustar\0` `00`, with the 155-byte name prefix.
        case posix
        /// GNU: `ustar  \0`, no prefix field.
        case gnu
        /// Pre-POSIX v7: no magic at all, only the checksum.
        case v7
    }

    private(set) var bytes: [UInt8] = []
    var magic = Magic.posix

    /// One header block. `size` is written in octal unless `sizeField` gives the raw 12 bytes.
    mutating func header(
        _ name: [UInt8],
        type: UInt8,
        size: Int = 0,
        linkName: String = "",
        prefix: String = "",
        sizeField: [UInt8]? = nil,
        corruptChecksum: Bool = false
    ) {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ value: [UInt8], at offset: Int, width: Int) {
            precondition(value.count <= width, "tar field too long")
            block.replaceSubrange(offset..<offset + value.count, with: value)
        }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
        }
        put(name, at: 0, width: 100)
        put(octal(0o644, width: 8), at: 100, width: 8)
        put(octal(1000, width: 8), at: 108, width: 8)
        put(octal(1000, width: 8), at: 116, width: 8)
        put(sizeField ?? octal(size, width: 12), at: 124, width: 12)
        put(octal(1_767_225_600, width: 12), at: 136, width: 12)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148, width: 8)
        block[156] = type
        put(Array(linkName.utf8), at: 157, width: 100)
        switch magic {
        case .posix:
            put(Array("ustar".utf8) + [0] + Array("00".utf8), at: 257, width: 8)
            put(Array(prefix.utf8), at: 345, width: 155)
        case .gnu:
            put(Array("ustar  ".utf8) + [0], at: 257, width: 8)
        case .v7:
            break
        }
        if magic != .v7 {
            put(Array("eoshare".utf8), at: 265, width: 32)
            put(Array("eoshare".utf8), at: 297, width: 32)
        }
        let sum = block.reduce(0) { $0 + Int($1) } + (corruptChecksum ? 1 : 0)
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148, width: 8)
        bytes += block
    }

    /// Data padded with zeros to a whole block.
    mutating func data(_ payload: [UInt8]) {
        bytes += payload
        bytes += [UInt8](repeating: 0, count: (512 - payload.count % 512) % 512)
    }

    mutating func file(_ name: String, _ payload: [UInt8], prefix: String = "") {
        header(Array(name.utf8), type: UInt8(ascii: "0"), size: payload.count, prefix: prefix)
        data(payload)
    }

    mutating func file(_ name: String, _ text: String) { file(name, Array(text.utf8)) }

    mutating func folder(_ name: String) {
        header(Array(name.utf8), type: UInt8(ascii: "5"))
    }

    mutating func symbolicLink(_ name: String, to target: String) {
        header(Array(name.utf8), type: UInt8(ascii: "2"), linkName: target)
    }

    mutating func hardLink(_ name: String, to target: String) {
        header(Array(name.utf8), type: UInt8(ascii: "1"), linkName: target)
    }

    /// A pax `x` header: its records apply to the next entry.
    mutating func pax(_ records: [(String, String)]) {
        var payload: [UInt8] = []
        for (key, value) in records {
            let body = " \(key)=\(value)\n"
            var length = body.utf8.count + 1
            while String(length).count + body.utf8.count != length { length += 1 }
            payload += Array("\(length)\(body)".utf8)
        }
        header(Array("./PaxHeaders/entry".utf8), type: UInt8(ascii: "x"), size: payload.count)
        data(payload)
    }

    /// A GNU `L` (long name) or `K` (long link target) header for the next entry.
    mutating func gnuLong(_ kind: Character, _ name: String) {
        let payload = Array(name.utf8) + [0]
        header(Array("././@LongLink".utf8), type: kind.asciiValue!, size: payload.count)
        data(payload)
    }

    /// The end-of-archive marker: two zero blocks.
    mutating func end() {
        bytes += [UInt8](repeating: 0, count: 1024)
    }

    /// A whole archive of regular files.
    static func archive(_ files: [(String, [UInt8])]) -> [UInt8] {
        var tar = TarBuilder()
        for (name, payload) in files { tar.file(name, payload) }
        tar.end()
        return tar.bytes
    }
}
