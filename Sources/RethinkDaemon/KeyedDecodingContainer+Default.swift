extension KeyedDecodingContainer {
    /// The setting at `key`, or `fallback` (its documented default) when the file leaves it out: every key of
    /// the configuration is optional, so each section's decoder reads each key this one way.
    func decode<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}
