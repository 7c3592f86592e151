import Foundation
import GRDB
import Ledger

/// Why the dashboard cannot answer from the ledger; each becomes a page (or a JSON error) that
/// says what happened and what to do, never a crash.
public enum DashboardFailure: Error, Equatable, CustomStringConvertible {
    /// No file at the ledger's path (no study launched there yet).
    case missingLedger(path: String)
    /// The ledger stayed locked (busy) for the whole retry window.
    case locked(path: String, detail: String)
    /// Written by a newer mergetune (migrations this version does not know).
    case newerSchema(path: String, detail: String)
    /// An SQLite file that is not a mergetune ledger, or one that cannot be read.
    case unreadable(path: String, detail: String)
    case noSuchStudy(name: String, path: String)

    /// The HTTP status of the page or JSON error (documented in docs/dashboard.md).
    public var status: Int {
        switch self {
        case .missingLedger, .noSuchStudy: return 404
        case .locked: return 503
        case .newerSchema, .unreadable: return 500
        }
    }

    /// A short machine-readable kind for the JSON API.
    public var kind: String {
        switch self {
        case .missingLedger: return "missing_ledger"
        case .locked: return "locked"
        case .newerSchema: return "newer_schema"
        case .unreadable: return "unreadable"
        case .noSuchStudy: return "no_such_study"
        }
    }

    public var title: String {
        switch self {
        case .missingLedger: return "No ledger yet"
        case .locked: return "Ledger locked"
        case .newerSchema: return "Ledger from a newer mergetune"
        case .unreadable: return "Ledger cannot be read"
        case .noSuchStudy: return "No such study"
        }
    }

    public var description: String {
        switch self {
        case .missingLedger(let path):
            return "There is no ledger at \(path). Launch a study there (`mergetune study launch SPEC --ledger \(path)`) or restart `mergetune serve` with --ledger pointing at an existing ledger. This page reloads by itself."
        case .locked(let path, let detail):
            return "The ledger \(path) is locked by another process and stayed locked while the dashboard retried (\(detail)). The dashboard only reads and will try again; this page reloads by itself."
        case .newerSchema(let path, let detail):
            return "The ledger \(path) was written by a newer mergetune than this one (\(detail)). Upgrade mergetune to view it; nothing was written."
        case .unreadable(let path, let detail):
            return "The ledger \(path) cannot be read: \(detail)"
        case .noSuchStudy(let name, let path):
            return "The ledger \(path) has no study named '\(name)'. The study list at / shows the studies it has."
        }
    }

    /// Conditions that may clear up by themselves: their pages reload.
    public var transient: Bool {
        switch self {
        case .missingLedger, .locked: return true
        default: return false
        }
    }
}

/// The dashboard's one way into the ledger: read-only (WAL readers, which never block the
/// coordinator, docs/architecture.md "The study core"), opened on first use and kept while the
/// file stays the same. It never creates, migrates or writes a ledger.
public final class LedgerSource: @unchecked Sendable {
    public let path: String
    /// How long SQLite retries a busy ledger before a read gives up (then: a 503 page).
    public let busyTimeout: TimeInterval
    private let lock = NSLock()
    private var cached: (ledger: Ledger, identity: FileIdentity)?

    public init(path: String, busyTimeout: TimeInterval = 1.5) {
        self.path = path
        self.busyTimeout = busyTimeout
    }

    struct FileIdentity: Equatable { var device: UInt64; var inode: UInt64 }

    private func identity() -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Size and modification time of the ledger and its WAL: every commit changes one of them,
    /// so answers computed from the ledger can be cached under this key.
    public func changeKey() -> String {
        func part(_ p: String) -> String {
            var st = stat()
            guard stat(p, &st) == 0 else { return "-" }
            return "\(st.st_ino).\(st.st_size).\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }
        return part(path) + "/" + part(path + "-wal")
    }

    /// The open ledger (opened now if needed, reopened when the file was replaced).
    public func ledger() throws -> Ledger {
        guard let id = identity() else {
            lock.withLock { cached = nil }
            throw DashboardFailure.missingLedger(path: path)
        }
        if let c = lock.withLock({ cached }), c.identity == id { return c.ledger }
        let opened: Ledger
        do {
            opened = try Ledger(path: path, readOnly: true, busyTimeout: busyTimeout)
        } catch {
            throw LedgerSource.failure(error, path: path)
        }
        lock.withLock { cached = (opened, id) }
        return opened
    }

    /// Runs `body` against the ledger, turning every error into a `DashboardFailure`.
    public func read<T>(_ body: (Ledger) throws -> T) throws -> T {
        let ledger = try ledger()
        do {
            return try body(ledger)
        } catch {
            if LedgerSource.isBeingCreated(error) { throw LedgerBeingCreated() }
            let failure = LedgerSource.failure(error, path: path)
            // A file that cannot be read any more (replaced, truncated) is opened afresh next time.
            if case .unreadable = failure { lock.withLock { cached = nil } }
            throw failure
        }
    }

    /// A ledger file that its first coordinator has created but not yet given its tables (a
    /// moment after `study launch` starts): it has no studies yet, which is not a failure.
    static func isBeingCreated(_ error: Error) -> Bool {
        guard let db = error as? DatabaseError else { return false }
        return db.resultCode.primaryResultCode == .SQLITE_ERROR && (db.message ?? "").hasPrefix("no such table")
    }

    static func failure(_ error: Error, path: String) -> DashboardFailure {
        if let f = error as? DashboardFailure { return f }
        if let db = error as? DatabaseError, isBusy(db.resultCode) {
            return .locked(path: path, detail: db.message ?? "database is locked")
        }
        if let l = error as? LedgerError {
            switch l {
            case .newerSchema(_, let unknown):
                return .newerSchema(path: path, detail: "unknown migrations: \(unknown.joined(separator: ", "))")
            case .noSuchStudy(let name):
                return .noSuchStudy(name: name, path: path)
            case .cannotOpen(_, let reason):
                if reason.contains("no such file") { return .missingLedger(path: path) }
                if reason.contains("locked") || reason.contains("busy") { return .locked(path: path, detail: reason) }
                return .unreadable(path: path, detail: reason)
            default:
                return .unreadable(path: path, detail: l.description)
            }
        }
        let text = String(describing: error)
        if text.contains("database is locked") || text.contains("SQLITE_BUSY") { return .locked(path: path, detail: text) }
        return .unreadable(path: path, detail: text)
    }

    struct LedgerBeingCreated: Error {}

    static func isBusy(_ code: ResultCode) -> Bool {
        code.primaryResultCode == .SQLITE_BUSY || code.primaryResultCode == .SQLITE_LOCKED
    }
}
