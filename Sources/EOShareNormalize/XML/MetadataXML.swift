import EOShareCore
import Foundation

/// Parsing a metadata file for a reader: checks the text is UTF-8 and the XML well formed,
/// and names the file and the line in the one-line error.
enum MetadataXML {
    static func parse(
        _ bytes: [UInt8],
        file: String,
        skipping: Set<String> = []
    ) throws(NormalizeError)
        -> MarkupElement
    {
        let start = TextBytes.afterBOM(bytes)
        if let bad = TextBytes.firstInvalidText(bytes, from: start) {
            throw NormalizeError("malformed \(file), line \(TextBytes.line(of: bad.offset, in: bytes)): \(bad.reason)")
        }
        do {
            return try XMLReader.parse(bytes, from: start, skipping: skipping)
        } catch {
            let line = error.offset.map { ", line \(TextBytes.line(of: $0, in: bytes))" } ?? ""
            throw NormalizeError("malformed \(file) (XML)\(line): \(error.detail)")
        }
    }

    /// The text at `path`, or an error naming its last element.
    static func required(_ element: MarkupElement, _ path: String) throws(NormalizeError) -> String {
        guard let value = element.text(at: path), !value.isEmpty else {
            throw .missing(String(path.split(separator: "/").last ?? Substring(path)))
        }
        return value
    }
}
