#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What an output path may be, and the temporary folders of unfinished writes.
///
/// `--force` replaces an existing output only when that cannot destroy anything else: never
/// an input checkpoint or a folder holding one, never the current directory (or a folder
/// holding it), and only a folder that is empty or is itself a checkpoint. Files that are
/// not part of a checkpoint (a README, notes, subfolders) are listed and the write refused;
/// we never delete them (docs/fusion.md, "Writer").
public enum OutputSafety {
    /// Written by the writer into every finished output: the files it wrote, one per line,
    /// so a later `--force` knows they belong to the checkpoint (copied VLM files included).
    public static let manifestName = ".mergetune-output"
    /// Inside a temporary folder while it is written: "pid starttime" of the writer.
    public static let partialMarker = ".mergetune-partial"

    /// File kinds a checkpoint folder holds besides the files its manifest lists.
    static let checkpointSuffixes = [".safetensors", ".json", ".jinja", ".tiktoken", ".model"]
    /// (mergekit_config.yml: a merge's recipe, written after a closed-form merge resolved it.)
    static let checkpointNames: Set<String> = ["merges.txt", "vocab.txt", "added_tokens.txt", "mergekit_config.yml"]

    /// The canonical path (symlinks resolved) of an existing path; for a missing one, its
    /// parent's canonical path plus its name (nil when the parent is missing too).
    public static func resolvedPath(_ path: String) -> String? {
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        if let r = realpath(abs, nil) {
            defer { free(r) }
            return String(cString: r)
        }
        let parent = (abs as NSString).deletingLastPathComponent
        guard parent != abs, let p = resolvedPath(parent) else { return nil }
        return (p as NSString).appendingPathComponent((abs as NSString).lastPathComponent)
    }

    static func isInside(_ path: String, _ folder: String) -> Bool {
        path == folder || path.hasPrefix(folder == "/" ? "/" : folder + "/")
    }

    /// Throws unless `output` may be written (created, or replaced when `overwrite`).
    /// `inputs` are the paths of the checkpoints the output is computed from.
    public static func check(output: String, inputs: [String], overwrite: Bool) throws(SafeTensorsError) {
        let fm = FileManager.default
        guard let out = resolvedPath(output) else {
            throw SafeTensorsError(.write, file: output, "the output's parent folder does not exist")
        }
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: out, isDirectory: &isDir)
        for input in inputs {
            guard let inp = resolvedPath(input) else { continue }
            if isInside(inp, out) {
                throw SafeTensorsError(.write, file: output, inp == out ? "the output is the input checkpoint \(input): refusing to overwrite it"
                                                                         : "the output contains the input checkpoint \(input): refusing to overwrite it")
            }
        }
        guard exists else { return }
        if let cwd = resolvedPath(fm.currentDirectoryPath), isInside(cwd, out) {
            throw SafeTensorsError(.write, file: output, cwd == out ? "the output is the current directory: choose a new folder for the merge"
                                                                     : "the output contains the current directory: choose a new folder for the merge")
        }
        guard overwrite else { throw SafeTensorsError(.write, file: output, "output already exists (use --force to replace it)") }
        guard isDir.boolValue else {
            throw SafeTensorsError(.write, file: output, "output exists and is a file; --force replaces only a checkpoint folder")
        }
        let unrelated = unrelatedFiles(in: out)
        if !unrelated.isEmpty {
            let shown = unrelated.prefix(20).joined(separator: ", ") + (unrelated.count > 20 ? ", … (\(unrelated.count) in all)" : "")
            throw SafeTensorsError(.write, file: output, "--force replaces only an empty folder or a checkpoint, and this folder also holds files that are not part of a checkpoint: \(shown). Move or delete them yourself, or choose another output")
        }
        let names = (try? fm.contentsOfDirectory(atPath: out)) ?? []
        if !names.isEmpty && !names.contains(where: { $0.hasSuffix(".safetensors") }) {
            throw SafeTensorsError(.write, file: output, "--force replaces only an empty folder or a checkpoint, and this folder holds no .safetensors file: \(names.sorted().joined(separator: ", "))")
        }
    }

    /// Entries of a folder that are not part of a checkpoint: anything but weights, the
    /// index, config/tokenizer files and the files its manifest lists (subfolders and hidden
    /// files included).
    public static func unrelatedFiles(in folder: String) -> [String] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        var listed = Set<String>()
        if let text = try? String(contentsOfFile: (folder as NSString).appendingPathComponent(manifestName), encoding: .utf8) {
            listed = Set(text.split(whereSeparator: \.isNewline).map(String.init).filter(ShardIndex.isPlainFileName))
            listed.insert(manifestName)
        }
        return names.filter { name in
            var d: ObjCBool = false
            let p = (folder as NSString).appendingPathComponent(name)
            guard fm.fileExists(atPath: p, isDirectory: &d), !d.boolValue else { return true }
            if listed.contains(name) { return false }
            if name.hasPrefix(".") { return true }
            return !(checkpointNames.contains(name) || checkpointSuffixes.contains(where: { name.hasSuffix($0) }))
        }
    }

    // MARK: temporary folders

    /// This process's start time (clock ticks since boot, /proc/self/stat field 22); 0 where
    /// unavailable. With the pid it names a writer even after the pid is reused.
    public static func processStartTime(_ pid: Int32 = getpid()) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        // Fields after the command name start at field 3 (state); starttime is field 22.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) ?? 0 : 0
    }

    /// The temporary folder name of a write to `name` by this process.
    public static func partialName(for name: String) -> String {
        ".\(name).partial-\(getpid())-\(processStartTime())"
    }

    /// (pid, start time) from a temporary folder's name, `.NAME.partial-PID-START` (or
    /// `-PID` from before start times were recorded), with an optional `.old` suffix (the
    /// previous output moved aside); nil for any other name.
    public static func parsePartialName(_ name: String) -> (pid: Int32, start: UInt64?)? {
        guard name.hasPrefix("."), let r = name.range(of: ".partial-", options: .backwards) else { return nil }
        var tail = String(name[r.upperBound...])
        if tail.hasSuffix(".old") { tail.removeLast(4) }
        let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let pid = Int32(parts[0]), pid > 0 else { return nil }
        if parts.count == 2 {
            guard let start = UInt64(parts[1]) else { return nil }
            return (pid, start)
        }
        return (pid, nil)
    }

    /// Whether the writer (pid, start time) still runs. A pid that runs with another start
    /// time was reused: the writer is gone. Without a recorded start time a live pid counts
    /// as the writer (kept, to be safe).
    public static func writerAlive(pid: Int32, start: UInt64?) -> Bool {
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        if let start, start != 0 {
            let now = processStartTime(pid)
            if now != 0 && now != start { return false }
        }
        return true
    }

    /// Removes the temporary folders in `folder` whose writer is gone; returns their paths.
    @discardableResult
    public static func removeStalePartials(in folder: String) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        for name in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
            guard let owner = parsePartialName(name), owner.pid != getpid() || owner.start.map({ $0 != processStartTime() }) == true else { continue }
            let p = (folder as NSString).appendingPathComponent(name)
            var d: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &d), d.boolValue, !writerAlive(pid: owner.pid, start: owner.start) else { continue }
            // Only what a writer leaves: its marker, or nothing but checkpoint files (older
            // writers, and a previous output moved aside, have no marker).
            let marked = fm.fileExists(atPath: (p as NSString).appendingPathComponent(partialMarker))
            guard marked || unrelatedFiles(in: p).isEmpty else { continue }
            if (try? fm.removeItem(atPath: p)) != nil { removed.append(p) }
        }
        return removed
    }

    /// The writer recorded in a temporary folder (by its marker or its name), nil when
    /// `folder` is not one.
    public static func partialOwner(_ folder: String) -> String? {
        let marker = (folder as NSString).appendingPathComponent(partialMarker)
        if let text = try? String(contentsOfFile: marker, encoding: .utf8) {
            return "writer pid \(text.split(separator: " ").first.map(String.init) ?? "?")"
        }
        if let owner = parsePartialName((folder as NSString).lastPathComponent) { return "writer pid \(owner.pid)" }
        return nil
    }
}
