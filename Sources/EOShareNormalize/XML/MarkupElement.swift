import EOShareCore
import EOShareFetch
import EOShareUnpack
import Foundation

/// A parsed XML document held flat: the input bytes and one array of nodes in document
/// order, linked parent → first child → next sibling. Names, texts and attribute values
/// stay ranges of the input until a reader asks for them, so a document costs a few
/// arrays, not an object and a string per element (the Sentinel-2 metadata has thousands
/// of elements and a reader looks at a few dozen).
package final class MarkupDocument: Sendable {
    package let bytes: [UInt8]
    package let nodes: [Node]
    package let attributes: [AttributeNode]
    /// Texts and attribute values that held references or CDATA, decoded.
    package let decoded: [String]

    /// One element, in 32-bit offsets (documents over 2 GiB are refused): a document has
    /// thousands of these, and their size is most of what parsing writes.
    package struct Node: Sendable {
        package var nameStart: Int32
        package var nameEnd: Int32
        /// Where the local name starts (after the prefix and `:`).
        package var localStart: Int32
        package var firstChild: Int32 = -1
        package var nextSibling: Int32 = -1
        /// The trimmed text as a range of the input, or an index into `decoded`.
        package var textStart: Int32 = 0
        package var textEnd: Int32 = 0
        package var decodedText: Int32 = -1
        package var firstAttribute: Int32
        package var attributeEnd: Int32
        package var hasText = false

        package init(name: Range<Int>, localStart: Int, attributes: Range<Int>) {
            nameStart = Int32(name.lowerBound)
            nameEnd = Int32(name.upperBound)
            self.localStart = Int32(localStart)
            firstAttribute = Int32(attributes.lowerBound)
            attributeEnd = Int32(attributes.upperBound)
        }

        package var name: Range<Int> { Int(nameStart)..<Int(nameEnd) }
        package var localName: Range<Int> { Int(localStart)..<Int(nameEnd) }
        package var text: Range<Int> { Int(textStart)..<Int(textEnd) }
        package var attributes: Range<Int> { Int(firstAttribute)..<Int(attributeEnd) }
        /// The start tag's `<` comes right before the name.
        package var offset: Int { Int(nameStart) - 1 }
    }

    package struct AttributeNode: Sendable {
        package var nameStart: Int32
        package var nameEnd: Int32
        package var valueStart: Int32
        package var valueEnd: Int32
        /// An index into `decoded` when the value held references.
        package var decodedValue: Int32

        package init(name: Range<Int>, value: Range<Int>, decodedValue: Int = -1) {
            nameStart = Int32(name.lowerBound)
            nameEnd = Int32(name.upperBound)
            valueStart = Int32(value.lowerBound)
            valueEnd = Int32(value.upperBound)
            self.decodedValue = Int32(decodedValue)
        }

        package var name: Range<Int> { Int(nameStart)..<Int(nameEnd) }
        package var value: Range<Int> { Int(valueStart)..<Int(valueEnd) }
    }

    package init(bytes: [UInt8], nodes: [Node], attributes: [AttributeNode], decoded: [String]) {
        self.bytes = bytes
        self.nodes = nodes
        self.attributes = attributes
        self.decoded = decoded
    }

    package func string(_ range: Range<Int>) -> String { TextBytes.text(bytes[range]) }

    /// Whether the bytes in `range` are exactly the UTF-8 of `text`.
    package func bytes(_ range: Range<Int>, equal text: some StringProtocol) -> Bool {
        guard range.count == text.utf8.count else { return false }
        var i = range.lowerBound
        for b in text.utf8 {
            guard bytes[i] == b else { return false }
            i += 1
        }
        return true
    }
}

/// One element of a parsed, read-only XML document: what the metadata readers (Landsat MTL
/// XML, Sentinel-2 SAFE) need from XML, parsed at the byte level by `XMLReader`.
///
/// Names keep their prefix as written (`n1:General_Info`); lookups compare local names
/// (the part after `:`), since agencies change prefixes between processing baselines.
public struct MarkupElement: Sendable {
    package let document: MarkupDocument
    package let index: Int

    private var node: MarkupDocument.Node { document.nodes[index] }

    /// The qualified name as written.
    public var name: String { document.string(node.name) }
    /// The name without its namespace prefix (what lookups compare).
    public var localName: String { document.string(node.localName) }
    /// Byte offset of the start tag, for error messages.
    public var offset: Int { node.offset }
    /// Whether the character data holds anything but blanks.
    public var hasText: Bool { node.hasText }

    /// The element's own character data (entities decoded, CDATA included) without blanks
    /// at either end; empty when it is only blanks.
    public var text: String {
        let node = self.node
        return node.decodedText >= 0 ? document.decoded[Int(node.decodedText)] : document.string(node.text)
    }

    /// The child elements in document order.
    public var children: [MarkupElement] {
        var result: [MarkupElement] = []
        forEachChild { result.append($0) }
        return result
    }

    /// Whether the element has no child elements.
    public var isLeaf: Bool { node.firstChild < 0 }

    /// Whether the local name is `name`, compared as bytes.
    public func hasLocalName(_ name: some StringProtocol) -> Bool {
        document.bytes(node.localName, equal: name)
    }

    /// Calls `body` with each child element in document order.
    package func forEachChild<E: Error>(_ body: (MarkupElement) throws(E) -> Void) throws(E) {
        var child = node.firstChild
        while child >= 0 {
            try body(MarkupElement(document: document, index: Int(child)))
            child = document.nodes[Int(child)].nextSibling
        }
    }

    /// The value of an attribute (compared by local name), or nil.
    public func attribute(_ localName: String) -> String? {
        for a in document.attributes[node.attributes] {
            var local = a.name.lowerBound
            for i in a.name where document.bytes[i] == UInt8(ascii: ":") { local = i + 1 }
            if document.bytes(local..<a.name.upperBound, equal: localName) { return value(of: a) }
        }
        return nil
    }

    private func value(of a: MarkupDocument.AttributeNode) -> String {
        a.decodedValue >= 0 ? document.decoded[Int(a.decodedValue)] : document.string(a.value)
    }

    /// The first child with this local name.
    public func child(_ localName: some StringProtocol) -> MarkupElement? {
        var child = node.firstChild
        while child >= 0 {
            let element = MarkupElement(document: document, index: Int(child))
            if element.hasLocalName(localName) { return element }
            child = document.nodes[Int(child)].nextSibling
        }
        return nil
    }

    /// Every child with this local name, in document order.
    public func children(_ localName: String) -> [MarkupElement] {
        var result: [MarkupElement] = []
        forEachChild { if $0.hasLocalName(localName) { result.append($0) } }
        return result
    }

    /// The first element down a `/`-separated path of local names (`Product_Info/Datatake`).
    public func find(_ path: String) -> MarkupElement? {
        var current = self
        var rest = path[...]
        while !rest.isEmpty {
            let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
            guard let next = current.child(rest[..<slash]) else { return nil }
            current = next
            rest = slash == rest.endIndex ? "" : rest[rest.utf8.index(after: slash)...]
        }
        return current
    }

    /// Every element at the end of a path (all branches of the last step).
    public func findAll(_ path: String) -> [MarkupElement] {
        var steps = path.split(separator: "/")
        guard let last = steps.popLast() else { return [] }
        var level = [self]
        for step in steps {
            level = level.flatMap { parent in
                var matches: [MarkupElement] = []
                parent.forEachChild { if $0.hasLocalName(step) { matches.append($0) } }
                return matches
            }
        }
        var result: [MarkupElement] = []
        for parent in level { parent.forEachChild { if $0.hasLocalName(last) { result.append($0) } } }
        return result
    }

    /// The trimmed text at a path, nil when the element is absent or empty.
    public func text(at path: String) -> String? {
        guard let element = find(path) else { return nil }
        let value = element.text
        return value.isEmpty ? nil : value
    }

    /// The first element anywhere below (depth first) with this local name.
    public func descendant(_ localName: String) -> MarkupElement? {
        var child = node.firstChild
        while child >= 0 {
            let element = MarkupElement(document: document, index: Int(child))
            if element.hasLocalName(localName) { return element }
            if let found = element.descendant(localName) { return found }
            child = document.nodes[Int(child)].nextSibling
        }
        return nil
    }
}

/// Why bytes are not the XML the readers accept: the byte offset (nil when there is no
/// single place) and what is wrong. Readers wrap it with the file's name and its line.
public struct XMLSyntaxError: Error, Sendable, Equatable {
    public var offset: Int?
    public var detail: String
}
