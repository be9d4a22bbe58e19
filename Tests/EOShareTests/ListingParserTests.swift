import Foundation
import Testing

@testable import EOShare
@testable import EOShareCore
@testable import EOShareEmbargo
@testable import EOShareFeedGeneration
@testable import EOShareFetch
@testable import EOShareNormalize
@testable import EOShareOperations
@testable import EOSharePublish
@testable import EOShareState
@testable import EOShareUnpack

/// What a listing or an index says is text from a server: sizes and times that are no byte
/// count or no date are left out or refused, never converted with a trap.
@Suite struct ListingParserTests {
    @Test(arguments: ["1e300G", "nanK", "infM", "-3M", "9e18T", "-5"])
    func sizesThatAreNoByteCountAreNotSizes(shown: String) {
        #expect(ListingParser.listedSize("<td>2024-05-01 10:00</td><td>\(shown)</td>"[...]) == nil)
    }

    @Test func plausibleSizesStillRead() {
        #expect(ListingParser.listedSize("<td>2024-05-01 10:00</td><td>1.5G</td>"[...]) == .approximate(3 << 29))
        #expect(ListingParser.listedSize(" 9223372036854775807"[...]) == .exact(Int64.max))
    }

    /// A stated size that is no byte count leaves the entry's size unknown (the transfer's own
    /// length is still checked) and is kept as shown, for the warning that names it.
    @Test(arguments: ["1e300", "-1", "1.5", "9223372036854775808"])
    func indexSizesThatAreNoByteCountAreUnknown(size: String) throws {
        let body = Array("[{\"url\": \"https://e.test/a.bin\", \"size\": \(size)}]".utf8)
        let entries = try ListingParser.indexEntries(body)
        #expect(entries.count == 1 && entries[0].size == nil && entries[0].unreadableSize != nil)
    }

    @Test func indexEntriesKeepTheirSizeAndChecksum() throws {
        let body = Array("[\"https://e.test/a.bin\", {\"url\": \"b.bin\", \"size\": 15137, \"sha256\": \"AB\"}]".utf8)
        #expect(
            try ListingParser.indexEntries(body) == [
                .init(url: "https://e.test/a.bin"), .init(url: "b.bin", size: 15137, sha256: "AB"),
            ]
        )
        #expect(try ListingParser.indexEntries(Array("a.bin\n# no\nb.bin\n".utf8)).map(\.url) == ["a.bin", "b.bin"])
    }

    /// `isNumber` is true of digits Int32 cannot read (`٣`, `½`, fullwidth `２`).
    @Test(arguments: ["２０２４０５０１１０００００", "٢٠٢٤٠٥٠١١٠٠٠٠٠", "2024050110000½"])
    func mlsdTimesInOtherDigitsAreNoTimes(modify: String) {
        let entry = FTPListing.mlsd("type=file;size=5;modify=\(modify); a.bin")
        #expect(entry?.name == "a.bin" && entry?.size == 5 && entry?.modified == nil)
    }

    @Test func negativeListedSizesAreNoSizes() {
        #expect(FTPListing.mlsd("type=file;size=-5; a.bin")?.size == nil)
        #expect(FTPListing.unix("-rw-r--r--   1 owner    group       -5 Nov 21 17:30 a.bin")?.size == nil)
    }
}
