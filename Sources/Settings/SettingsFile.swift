internal import Foundation
internal import Yams

/// A configuration file's text, and its values flattened to the keys settings declare.
package struct SettingsFile: Sendable {
    package let path: String
    package let text: String

    package init(path: String, text: String) {
        self.path = path
        self.text = text
    }

    /// Reads the file, or says in one line why it cannot.
    package static func read(path: String) throws(ConfigurationFileError) -> SettingsFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationFileError("cannot read the configuration file \(path)")
        }
        return SettingsFile(path: path, text: String(decoding: data, as: UTF8.self))
    }

    /// One value in the file: a scalar, or a list of scalars.
    enum Value {
        case scalar(String)
        case list([String])
    }

    /// What the file holds, as the settings of `schema` name it.
    struct Flattened {
        var values: [String: Value] = [:]
        /// Each section's entries, a mapping of scalars each.
        var entries: [String: [[String: String]]] = [:]
    }

    /// Flattens the document: nested mappings to dotted keys; a section's list to its entries.
    /// A key no setting declares is an error, as is a mapping or list where a value belongs.
    func flattened<Root>(for schema: SettingsSchema<Root>) throws(ConfigurationFileError) -> Flattened {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            let reason = "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            throw ConfigurationFileError("the configuration file \(path) is not YAML: \(reason)")
        }
        guard let root, !root.isNull else { return Flattened() }
        guard var mapping = root.mapping else {
            throw ConfigurationFileError("the configuration file \(path) must be a mapping of keys to values")
        }
        if let wrapper = schema.wrapperKey, mapping.count == 1, let inner = mapping[wrapper] {
            guard let innerMapping = inner.mapping else {
                throw ConfigurationFileError("the configuration file \(path): \(wrapper) must be a mapping of keys to values")
            }
            mapping = innerMapping
        }
        var flattened = Flattened()
        try walk(mapping, prefix: "", schema: schema, into: &flattened)
        return flattened
    }

    private func walk<Root>(_ mapping: Node.Mapping, prefix: String, schema: SettingsSchema<Root>, into flattened: inout Flattened)
        throws(ConfigurationFileError)
    {
        for (keyNode, value) in mapping {
            let key = prefix + (keyNode.string ?? "")
            if let section = schema.sectionsByKey[key] {
                flattened.entries[key] = try entries(of: value, section: section)
            } else if let setting = schema.byKey[key] {
                flattened.values[key] = try self.value(value, for: setting)
            } else if let nested = value.mapping {
                try walk(nested, prefix: key + ".", schema: schema, into: &flattened)
            } else {
                throw ConfigurationFileError("unknown configuration key \(key) in \(path); known keys: \(schema.knownKeys)")
            }
        }
    }

    private func value<Root>(_ node: Node, for setting: Setting<Root>) throws(ConfigurationFileError) -> Value {
        if let scalar = node.scalarText { return .scalar(scalar) }
        if setting.applyList != nil, let sequence = node.sequence {
            var items: [String] = []
            for item in sequence {
                guard let text = item.scalarText else {
                    throw ConfigurationFileError("configuration key \(setting.key) in \(path): expected a list of values")
                }
                items.append(text)
            }
            return .list(items)
        }
        throw ConfigurationFileError(
            "configuration key \(setting.key) in \(path): expected one value, not a \(node.mapping != nil ? "mapping" : "list")")
    }

    private func entries<Root>(of node: Node, section: SettingsSection<Root>) throws(ConfigurationFileError) -> [[String: String]] {
        if node.isNull { return [] }
        guard let sequence = node.sequence else {
            throw ConfigurationFileError("configuration key \(section.key) in \(path): expected a list of mappings")
        }
        var entries: [[String: String]] = []
        for (index, item) in sequence.enumerated() {
            guard let mapping = item.mapping else {
                throw ConfigurationFileError("configuration key \(section.key)[\(index)] in \(path): expected a mapping")
            }
            var entry: [String: String] = [:]
            try flatten(mapping, prefix: "", into: &entry, name: "\(section.key)[\(index)]", section: section)
            entries.append(entry)
        }
        return entries
    }
}

extension SettingsFile {
    /// An entry's keys, nested mappings at dotted keys (`envoy_sds.path`).
    private func flatten<Root>(
        _ mapping: Node.Mapping, prefix: String, into entry: inout [String: String], name: String, section: SettingsSection<Root>
    ) throws(ConfigurationFileError) {
        for (keyNode, value) in mapping {
            let key = prefix + (keyNode.string ?? "")
            if let nested = value.mapping, section.entryKeys.contains(where: { $0.hasPrefix(key + ".") }) {
                try flatten(nested, prefix: key + ".", into: &entry, name: name, section: section)
                continue
            }
            guard section.entryKeys.contains(key) else {
                throw ConfigurationFileError(
                    "unknown configuration key \(name).\(key) in \(path); known keys of an entry: \(section.entryKeys.joined(separator: ", "))")
            }
            guard let text = value.scalarText else {
                throw ConfigurationFileError("configuration key \(name).\(key) in \(path): expected one value")
            }
            entry[key] = text
        }
    }
}

extension Node {
    /// A scalar's text; `""` for a null (`key:` with nothing after it).
    fileprivate var scalarText: String? {
        guard let scalar else { return nil }
        return isNull ? "" : scalar.string
    }

    fileprivate var isNull: Bool {
        guard let scalar else { return false }
        return tag.rawValue == Tag.Name.null.rawValue || (scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string))
    }
}
