import Foundation

/// Scratch files and directories for tests, removed when the test process exits, so a test
/// run leaves nothing behind in $TMPDIR (a crashed run can; the paths name what made them).
public enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var registered: [String] = []
    private static let cleanupAtExit: Void = { atexit { Scratch.removeAll() } }()

    /// A new, empty directory `$TMPDIR/<label>-<UUID>`.
    public static func directory(_ label: String) -> URL {
        let url = URL(fileURLWithPath: path(label))
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A fresh path `$TMPDIR/<label>-<UUID>` (not created) for a file or directory a test writes.
    public static func path(_ label: String) -> String {
        _ = cleanupAtExit
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        lock.lock(); registered.append(p); lock.unlock()
        return p
    }

    static func removeAll() {
        lock.lock(); let paths = registered; lock.unlock()
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
    }
}
