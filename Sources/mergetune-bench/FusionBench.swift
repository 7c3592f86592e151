import ArgumentParser
import Foundation
import Fusion
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// `mergetune-bench fusion [merge]` (default) and `mergetune-bench fusion kernel`.
struct FusionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusion",
        abstract: "Merge benchmarks: a timed checkpoint merge or the I/O floor (default), or the kernel alone.",
        subcommands: [FusionMergeBench.self, FusionKernelBench.self],
        defaultSubcommand: FusionMergeBench.self)
}

/// The JSON line of `mergetune-bench fusion merge`: the floor's fields or the merge's.
struct FusionBenchLine: Encodable {
    var wall_s = 0.0, max_rss_mb = 0.0
    var read_bytes: Int?, read_s: Double?, write_bytes: Int?, write_s: Double?
    var method: String?, stats_s: Double?, threads: Int?, bytes_written: Int?
}

/// `mergetune-bench fusion`: one merge (or the I/O floor) on a checkpoint triple, timed,
/// with the inputs evicted from the page cache first so reads are cold. Prints one JSON
/// line; Benchmarks/fusion_bench.sh runs it per method under /usr/bin/time -v.
struct FusionMergeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
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
        var line = FusionBenchLine()
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
            line.read_bytes = readBytes; line.read_s = millis(readSeconds)
            line.write_bytes = written; line.write_s = millis(Date().timeIntervalSince(start) - readSeconds)
        } else {
            let spec = MergeSpec(method: method!, vlWeight: vlWeight, expWeight: expWeight,
                                 density: method == .ties || method == .dareTies || method == .dareLinear ? density : 1, seed: 1)
            var options = MergeOptions(overwrite: true, copyConfigFiles: true)
            if let threads { options.threads = threads }
            let r = try merge(base: try Checkpoint(path: base), vlm: try Checkpoint(path: vlm), expert: try Checkpoint(path: expert),
                              spec: spec, to: output, options: options)
            line.method = method!.rawValue; line.stats_s = millis(r.statsSeconds)
            line.threads = options.threads; line.bytes_written = r.bytesWritten
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        line.wall_s = millis(Date().timeIntervalSince(start))
        line.max_rss_mb = (Double(usage.ru_maxrss) / 1024 * 10).rounded() / 10
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(line), as: UTF8.self))
    }

    /// Seconds to the millisecond, as the line reports them.
    func millis(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

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

/// `mergetune-bench fusion kernel`: CPU cost of the per-tensor kernel (no I/O), ns per element.
struct FusionKernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel",
                                                    abstract: "Time the in-memory merge kernel per method.")
    @Option var elements: Int = 8 << 20
    @Option(help: "Comma-separated methods.") var methods: String = "task_arithmetic,ties,dare_linear,dare_ties"

    func run() throws {
        let n = elements
        let base = (0..<n).map { Float(counterUniform(key: 1, index: UInt64($0))) - 0.5 }
        let vlm = (0..<n).map { base[$0] + 0.01 * (Float(counterUniform(key: 2, index: UInt64($0))) - 0.5) }
        let exp = (0..<n).map { base[$0] + 0.01 * (Float(counterUniform(key: 3, index: UInt64($0))) - 0.5) }
        for m in methods.split(separator: ",").compactMap({ MergeMethod(rawValue: String($0)) }) {
            let spec = MergeSpec(method: m, vlWeight: 0.6, expWeight: 0.8, density: 0.5, seed: 1)
            let t0 = clock()
            let out = mergeTensor(base: base, vlm: vlm, expert: exp, spec: spec, tensor: "t")
            let dt = Double(clock() - t0) / Double(CLOCKS_PER_SEC)  // CPU time: the machine is shared
            print(String(format: "%-16@ %6.2f ns/element CPU (checksum %.4f)", m.rawValue, dt * 1e9 / Double(n), out[n / 2]))
        }
    }
}
