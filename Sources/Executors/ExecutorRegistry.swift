import Foundation

/// The `[executor]` table of a study spec (docs/executors.md, "Configuration"). Keys common to
/// every kind first, then each kind's own (optional, checked by the kind that reads them).
public struct ExecutorConfig: Codable, Sendable, Equatable {
    /// "inprocess", "local", "slurm" (see `ExecutorRegistry.kinds`).
    public var kind: String
    /// Attempts at a time (default 1; for `local` with `gpus`, one per GPU).
    public var slots: Int?
    /// local: one slot per GPU index; the slot's processes see CUDA_VISIBLE_DEVICES=<gpu>.
    public var gpus: [Int]?
    /// Environment additions for every attempt.
    public var env: [String: String]?
    /// local: seconds between SIGTERM and SIGKILL on timeout or cancel (default 10).
    public var grace: Double?
    /// local, slurm: the mergetune binary that supervises each attempt (default: the running one;
    /// for slurm it must be valid on the compute nodes).
    public var supervisor: String?
    /// slurm (docs/executors-slurm.md): `#SBATCH` options of each job.
    public var partition: String?
    public var gres: String?
    public var time: String?
    public var account: String?
    public var cpusPerTask: Int?
    public var mem: String?
    /// slurm: extra job-script lines (`#SBATCH ...` lines join the directives, others run first).
    public var extra: [String]?
    /// slurm: a job-script template file with {{sbatch}}, {{setup}}, {{environment}}, {{command}}.
    public var template: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, slots, gpus, env, grace, supervisor, partition, gres, time, account, mem, extra, template
        case cpusPerTask = "cpus_per_task"
    }

    /// Every key of the `[executor]` table an executor reads (a study spec rejects others).
    public static let keys: [String] = CodingKeys.allCases.map(\.rawValue)

    public init(kind: String, slots: Int? = nil, gpus: [Int]? = nil, env: [String: String]? = nil,
                grace: Double? = nil, supervisor: String? = nil, partition: String? = nil, gres: String? = nil,
                time: String? = nil, account: String? = nil, cpusPerTask: Int? = nil, mem: String? = nil,
                extra: [String]? = nil, template: String? = nil) {
        self.kind = kind; self.slots = slots; self.gpus = gpus; self.env = env
        self.grace = grace; self.supervisor = supervisor
        self.partition = partition; self.gres = gres; self.time = time; self.account = account
        self.cpusPerTask = cpusPerTask; self.mem = mem; self.extra = extra; self.template = template
    }

    /// Which of the Slurm-only keys are set (other kinds reject them).
    var slurmKeys: [String: Bool] {
        ["partition": partition != nil, "gres": gres != nil, "time": time != nil, "account": account != nil,
         "cpus_per_task": cpusPerTask != nil, "mem": mem != nil, "extra": extra != nil, "template": template != nil]
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
    public static let kinds = ["inprocess", "local", "slurm"]

    /// Builds the executor `config` describes. `supervisor` overrides `config.supervisor`
    /// (tests pass the built binary).
    public static func make(_ config: ExecutorConfig, supervisor: String? = nil) throws -> TrialExecutor {
        if let slots = config.slots, slots < 1 {
            throw ExecutorConfigError("slots", "must be at least 1, got \(slots)")
        }
        switch config.kind {
        case "inprocess":
            try reject(config, keys: ["gpus": config.gpus != nil, "env": config.env != nil,
                                      "grace": config.grace != nil, "supervisor": config.supervisor != nil]
                                      .merging(config.slurmKeys) { a, _ in a })
            return try InProcessExecutor(slots: config.slots ?? 1)
        case "local":
            try reject(config, keys: config.slurmKeys)
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
        case "slurm":
            try reject(config, keys: ["gpus": config.gpus != nil])
            let grace = config.grace
            if let grace, !(grace >= 0 && grace.isFinite) {
                throw ExecutorConfigError("grace", "must be a finite number of seconds >= 0, got \(grace)")
            }
            if let c = config.cpusPerTask, c < 1 { throw ExecutorConfigError("cpus_per_task", "must be at least 1, got \(c)") }
            for (key, value) in [("partition", config.partition), ("gres", config.gres), ("time", config.time),
                                 ("account", config.account), ("mem", config.mem)] {
                // One #SBATCH line each: a newline would smuggle shell lines into the directives.
                if let value, value.isEmpty || value.contains(where: \.isNewline) || value.contains(" ") {
                    throw ExecutorConfigError(key, "'\(value)' is not one Slurm option value (no spaces or newlines; leave the key out for Slurm's default)")
                }
            }
            if let extra = config.extra, let bad = extra.first(where: { $0.contains(where: \.isNewline) }) {
                throw ExecutorConfigError("extra", "one line per list item; '\(bad)' contains a newline")
            }
            if let template = config.template, !FileManager.default.isReadableFile(atPath: template) {
                throw ExecutorConfigError("template", "\(template) is not a readable file (give the job-script template's path)")
            }
            let binary = supervisor ?? config.supervisor ?? LocalExecutor.runningExecutable()
            if !FileManager.default.isExecutableFile(atPath: binary) {
                throw ExecutorConfigError("supervisor", "\(binary) is not an executable file (give the mergetune binary, as the nodes see it)")
            }
            return SlurmExecutor(config: SlurmConfig(
                slots: config.slots ?? 1, mergetune: binary, partition: config.partition, gres: config.gres,
                time: config.time, account: config.account, cpusPerTask: config.cpusPerTask, mem: config.mem,
                extra: config.extra ?? [], template: config.template, grace: grace, environment: config.env ?? [:]))
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
