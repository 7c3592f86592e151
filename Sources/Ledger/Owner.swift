import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process that claimed a run: host name, pid and the process's start time, so a pid
/// reused by a later process is not mistaken for the owner.
public struct Owner: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var pid: Int32
    /// Start time of the process in clock ticks since boot (/proc/PID/stat field 22); 0 where unknown.
    public var start: UInt64

    public init(host: String, pid: Int32, start: UInt64) {
        self.host = host; self.pid = pid; self.start = start
    }

    /// This process.
    public static let current: Owner = {
        let pid = getpid()
        // gethostname, not ProcessInfo.hostName, which may wait on name resolution.
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        return Owner(host: host, pid: pid, start: Owner.startTicks(of: pid) ?? 0)
    }()

    /// "host/pid/start", the form stored in runs.owner.
    public var token: String { "\(host)/\(pid)/\(start)" }
    public var description: String { "pid \(pid) on \(host)" }

    public init?(token: String) {
        // The host may itself contain '/', so split from the right.
        let parts = token.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]), let start = UInt64(parts[parts.count - 1]) else {
            return nil
        }
        self.init(host: parts.dropLast(2).joined(separator: "/"), pid: pid, start: start)
    }

    /// Whether the owner may still be working on its runs. On this host: the process exists, is
    /// not a zombie, and started when the claim says. On another host we cannot look, so the
    /// heartbeat decides: older than `staleAfter` seconds means dead.
    public func isAlive(heartbeat: Double?, now: Date = Date(), staleAfter: TimeInterval) -> Bool {
        guard host == Owner.current.host else {
            guard let heartbeat else { return false }
            return now.timeIntervalSince1970 - heartbeat < staleAfter
        }
        if self == Owner.current { return true }
        if let stat = Owner.procStat(of: pid) {
            // Fields after the command name: state is the first, starttime the 20th.
            guard stat.count > 19 else { return false }
            if stat[0] == "Z" || stat[0] == "X" { return false }
            if start != 0, let ticks = UInt64(stat[19]), ticks != start { return false }
            return true
        }
        #if os(Linux)
        return false  // no /proc entry: the process is gone
        #else
        return kill(pid, 0) == 0 || errno != ESRCH
        #endif
    }

    static func startTicks(of pid: Int32) -> UInt64? {
        guard let stat = procStat(of: pid), stat.count > 19 else { return nil }
        return UInt64(stat[19])
    }

    /// The fields of /proc/PID/stat after "(comm)", or nil where there is no such process.
    static func procStat(of pid: Int32) -> [String]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").map(String.init)
    }
}
