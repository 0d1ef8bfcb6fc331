/// One run of `body` per key at a time: callers that come while it runs wait for its result.
actor SingleFlight<Key: Hashable & Sendable, Value: Sendable> {
    private var running: [Key: Task<Value, Never>] = [:]

    func run(_ key: Key, _ body: @escaping @Sendable () async -> Value) async -> Value {
        if let task = running[key] { return await task.value }
        let task = Task { await body() }
        running[key] = task
        let value = await task.value
        running[key] = nil
        return value
    }
}
