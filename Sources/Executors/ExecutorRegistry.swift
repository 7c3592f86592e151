import Foundation

/// The `[executor]` table of a study spec (docs/executors.md, "Configuration"). Keys common to
/// every kind first, then each kind's own (optional, checked by the kind that reads them).
public struct ExecutorConfig: Codable, Sendable, Equatable {
    /// "inprocess", "local" (see `ExecutorRegistry.kinds`).
    public var kind: String
    /// Attempts at a time (default 1; for `local` with `gpus`, one per GPU).
    public var slots: Int?
    /// local: one slot per GPU index; the slot's processes see CUDA_VISIBLE_DEVICES=<gpu>.
    public var gpus: [Int]?
    /// Environment additions for every attempt.
    public var env: [String: String]?
    /// local: seconds between SIGTERM and SIGKILL on timeout or cancel (default 10).
    public var grace: Double?
    /// local: the mergetune binary that supervises each attempt (default: the running one).
    public var supervisor: String?

    public init(kind: String, slots: Int? = nil, gpus: [Int]? = nil, env: [String: String]? = nil,
                grace: Double? = nil, supervisor: String? = nil) {
        self.kind = kind; self.slots = slots; self.gpus = gpus; self.env = env
        self.grace = grace; self.supervisor = supervisor
    }
}

/// A configuration error naming the key, e.g. "executor.gpus: …".
public struct ExecutorConfigError: Error, LocalizedError, CustomStringConvertible, Equatable {
    public var key: String
    public var message: String
    public init(_ key: String, _ message: String) { self.key = key; self.message = message }
    public var description: String { "executor.\(key): \(message)" }
    public var errorDescription: String? { description }
}

/// The one place that knows the executor kinds.
public enum ExecutorRegistry {
    public static let kinds = ["inprocess", "local"]

    /// Builds the executor `config` describes. `supervisor` overrides `config.supervisor`
    /// (tests pass the built binary).
    public static func make(_ config: ExecutorConfig, supervisor: String? = nil) throws -> TrialExecutor {
        if let slots = config.slots, slots < 1 {
            throw ExecutorConfigError("slots", "must be at least 1, got \(slots)")
        }
        switch config.kind {
        case "inprocess":
            try reject(config, keys: ["gpus": config.gpus != nil, "env": config.env != nil,
                                      "grace": config.grace != nil, "supervisor": config.supervisor != nil])
            return try InProcessExecutor(slots: config.slots ?? 1)
        case "local":
            let environment = config.env ?? [:]
            let grace = config.grace ?? Supervisor.defaultGrace
            guard grace >= 0, grace.isFinite else { throw ExecutorConfigError("grace", "must be a finite number of seconds >= 0, got \(grace)") }
            let binary = supervisor ?? config.supervisor
            if let binary, !FileManager.default.isExecutableFile(atPath: binary) {
                throw ExecutorConfigError("supervisor", "\(binary) is not an executable file (give the mergetune binary)")
            }
            if let gpus = config.gpus {
                guard !gpus.isEmpty else { throw ExecutorConfigError("gpus", "give at least one GPU index, e.g. [0, 1]") }
                if let bad = gpus.first(where: { $0 < 0 }) { throw ExecutorConfigError("gpus", "\(bad) is not a GPU index (>= 0)") }
                guard Set(gpus).count == gpus.count else { throw ExecutorConfigError("gpus", "\(gpus) lists a GPU twice") }
                if let slots = config.slots, slots != gpus.count {
                    throw ExecutorConfigError("slots", "\(slots) does not match the \(gpus.count) GPUs of executor.gpus (one slot per GPU; drop slots)")
                }
                return try LocalExecutor(gpus: gpus, environment: environment, supervisor: binary, grace: grace)
            }
            return try LocalExecutor(slots: config.slots ?? 1, environment: environment, supervisor: binary, grace: grace)
        default:
            throw ExecutorConfigError("kind", "unknown executor '\(config.kind)'; known: \(kinds.joined(separator: ", "))")
        }
    }

    /// Keys that mean nothing to a kind are errors, not silently ignored.
    private static func reject(_ config: ExecutorConfig, keys: [String: Bool]) throws {
        if let key = keys.filter(\.value).keys.sorted().first {
            throw ExecutorConfigError(key, "not used by the \(config.kind) executor; remove it")
        }
    }
}
