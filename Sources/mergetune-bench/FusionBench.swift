import ArgumentParser
import Foundation
import Fusion
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// `mergetune-bench fusion`: one merge (or the I/O floor) on a checkpoint triple, timed,
/// with the inputs evicted from the page cache first so reads are cold. Prints one JSON
/// line; Benchmarks/fusion_bench.sh runs it per method under /usr/bin/time -v.
struct FusionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusion",
        abstract: "Time a checkpoint merge (or the I/O floor: read the inputs, write an output of the same size).")

    @Option var base: String
    @Option var vlm: String
    @Option var expert: String
    @Option(help: "Merge method; omit with --floor.") var methodName: String?
    var method: MergeMethod? { methodName.flatMap(MergeMethod.init(rawValue:)) }
    @Option var density: Double = 0.5
    @Option var vlWeight: Double = 1
    @Option var expWeight: Double = 1
    @Option var threads: Int?
    @Option(name: [.short, .customLong("output")]) var output: String
    @Flag(help: "Measure the I/O floor instead of merging.") var floor = false
    @Flag(inversion: .prefixedNo, help: "Evict inputs (and the old output) from the page cache first.") var evict = true

    func validate() throws {
        if !floor && method == nil { throw ValidationError("--method-name M (a merge method) or --floor") }
    }

    func run() throws {
        let triple = [base, vlm, expert]
        let inputFiles = try triple.flatMap { try shardFiles($0) }
        if evict { inputFiles.forEach(evictFromCache) }
        try? FileManager.default.removeItem(atPath: output)
        let start = Date()
        var detail = ""
        if floor {
            // Read every input byte once (as the merge must) and write one output-sized file with fsync.
            var readBytes = 0
            let buf = UnsafeMutableRawPointer.allocate(byteCount: 16 << 20, alignment: 4096)
            defer { buf.deallocate() }
            for f in inputFiles {
                let fd = open(f, O_RDONLY)
                guard fd >= 0 else { throw ValidationError("cannot open \(f)") }
                while true {
                    let n = read(fd, buf, 16 << 20)
                    if n <= 0 { break }
                    readBytes += n
                }
                close(fd)
            }
            let readSeconds = Date().timeIntervalSince(start)
            let outBytes = try shardFiles(vlm).reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as! Int) }
            memset(buf, 0x3C, 16 << 20)
            let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            var written = 0
            while written < outBytes {
                let n = write(fd, buf, min(16 << 20, outBytes - written))
                guard n > 0 else { break }
                written += n
            }
            fsync(fd)
            close(fd)
            detail = String(format: "\"read_bytes\":%d,\"read_s\":%.3f,\"write_bytes\":%d,\"write_s\":%.3f", readBytes, readSeconds, written,
                            Date().timeIntervalSince(start) - readSeconds)
        } else {
            let spec = MergeSpec(method: method!, vlWeight: vlWeight, expWeight: expWeight,
                                 density: method == .ties || method == .dareTies || method == .dareLinear ? density : 1, seed: 1)
            var options = MergeOptions(overwrite: true, copyConfigFiles: true)
            if let threads { options.threads = threads }
            let r = try merge(base: try Checkpoint(path: base), vlm: try Checkpoint(path: vlm), expert: try Checkpoint(path: expert),
                              spec: spec, to: output, options: options)
            detail = String(format: "\"method\":\"%@\",\"stats_s\":%.3f,\"threads\":%d,\"bytes_written\":%d",
                            method!.rawValue, r.statsSeconds, options.threads, r.bytesWritten)
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        print(String(format: "{\"wall_s\":%.3f,\"max_rss_mb\":%.1f,%@}", Date().timeIntervalSince(start), Double(usage.ru_maxrss) / 1024, detail))
    }

    func shardFiles(_ path: String) throws -> [String] {
        try Checkpoint(path: path).shards.map(\.path)
    }

    /// Drops a file's clean pages from the page cache (no root needed).
    func evictFromCache(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        fdatasync(fd)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
        close(fd)
    }
}
