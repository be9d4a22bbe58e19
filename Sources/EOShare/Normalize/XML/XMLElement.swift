/// One element of a small, read-only XML tree: what the metadata readers (Landsat MTL XML,
/// Sentinel-2 SAFE) need from XML, parsed at the byte level by `XMLReader`.
///
/// Names keep their prefix as written (`n1:General_Info`); lookups compare local names
/// (the part after `:`), since agencies change prefixes between processing baselines.
public struct XMLElement: Sendable, Hashable {
    public struct Attribute: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// The qualified name as written.
    public var name: String
    /// The name without its namespace prefix (what lookups compare).
    public var localName: String
    public var attributes: [Attribute]
    /// The element's own character data (entities decoded, CDATA included) without blanks
    /// at either end; empty when it is only blanks.
    public var text: String
    public var children: [XMLElement]
    /// Byte offset of the start tag, for error messages.
    public var offset: Int
    /// Whether the character data holds anything but blanks.
    public var hasText: Bool

    /// The value of an attribute (compared by local name), or nil.
    public func attribute(_ localName: String) -> String? {
        for a in attributes {
            let name = a.name.utf8
            let local = name.lastIndex(of: UInt8(ascii: ":")).map { name[name.index(after: $0)...] } ?? name[...]
            if local.elementsEqual(localName.utf8) { return a.value }
        }
        return nil
    }

    /// The first child with this local name.
    public func child(_ localName: String) -> XMLElement? {
        children.first { $0.localName == localName }
    }

    /// Every child with this local name, in document order.
    public func children(_ localName: String) -> [XMLElement] {
        children.filter { $0.localName == localName }
    }

    /// The first element down a `/`-separated path of local names (`Product_Info/Datatake`).
    public func find(_ path: String) -> XMLElement? {
        var current = self
        for step in path.split(separator: "/") {
            guard let next = current.children.first(where: { $0.localName == step }) else { return nil }
            current = next
        }
        return current
    }

    /// Every element at the end of a path (all branches of the last step).
    public func findAll(_ path: String) -> [XMLElement] {
        var steps = path.split(separator: "/")
        guard let last = steps.popLast() else { return [] }
        var level = [self]
        for step in steps {
            level = level.flatMap { $0.children.filter { $0.localName == step } }
        }
        return level.flatMap { $0.children.filter { $0.localName == last } }
    }

    /// The trimmed text at a path, nil when the element is absent or empty.
    public func text(at path: String) -> String? {
        guard let element = find(path) else { return nil }
        let value = element.text
        return value.isEmpty ? nil : value
    }

    /// The first element anywhere below (depth first) with this local name.
    public func descendant(_ localName: String) -> XMLElement? {
        for child in children {
            if child.localName == localName { return child }
            if let found = child.descendant(localName) { return found }
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
