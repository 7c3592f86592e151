import Foundation
import Testing
@testable import Executors

@Suite struct InProcessExecutorTests {
    func spec(_ label: String, _ body: @escaping @Sendable () -> AttemptOutcome) -> AttemptSpec {
        AttemptSpec(label: label, directory: "/nonexistent/\(label)", inProcess: body)
    }

    @Test func valuesAndFailuresComeBack() throws {
        let ex = try InProcessExecutor(slots: 3)
        let a = try ex.submit(spec("a") { AttemptOutcome(value: 1.5, extras: ["x": 2]) }, slot: 0)
        let b = try ex.submit(spec("b") { AttemptOutcome(value: .nan) }, slot: 1)
        let c = try ex.submit(spec("c") { .failed(.objectiveError, "boom") }, slot: 2)
        #expect(Set(ex.inFlight) == [a, b, c])
        var ended: [AttemptHandle: AttemptOutcome] = [:]
        while ended.count < 3 { for (h, o) in try ex.wait(timeout: 5) { #expect(ended[h] == nil); ended[h] = o } }
        #expect(ended[a]?.value == 1.5 && ended[a]?.extras == ["x": 2] && ended[a]?.seconds != nil)
        #expect(ended[b]?.failure == .nonFinite && ended[b]?.value == nil)
        #expect(ended[c]?.failure == .objectiveError && ended[c]?.detail == "boom")
        #expect(ex.inFlight.isEmpty)
        #expect(try ex.wait(timeout: 0.01).isEmpty)
    }

    @Test func slotsRunConcurrently() throws {
        let ex = try InProcessExecutor(slots: 2)
        // Each closure waits for the other to start: only concurrent slots can finish both.
        let first = DispatchSemaphore(value: 0), second = DispatchSemaphore(value: 0)
        let a = try ex.submit(spec("a") { first.signal(); return second.wait(timeout: .now() + 5) == .success ? AttemptOutcome(value: 1) : .failed(.timeout) }, slot: 0)
        let b = try ex.submit(spec("b") { second.signal(); return first.wait(timeout: .now() + 5) == .success ? AttemptOutcome(value: 2) : .failed(.timeout) }, slot: 1)
        var ended: [AttemptHandle: AttemptOutcome] = [:]
        while ended.count < 2 { for (h, o) in try ex.wait(timeout: 10) { ended[h] = o } }
        #expect(ended[a]?.value == 1 && ended[b]?.value == 2)
    }

    @Test func waitTimesOutWhileAClosureRuns() throws {
        let ex = try InProcessExecutor()
        let gate = DispatchSemaphore(value: 0)
        let h = try ex.submit(spec("slow") { gate.wait(); return AttemptOutcome(value: 7) }, slot: 0)
        let start = Date()
        #expect(try ex.wait(timeout: 0.2).isEmpty)
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.19 && waited < 2)
        #expect(throws: ExecutorError.self) { try ex.submit(spec("busy") { AttemptOutcome(value: 1) }, slot: 0) }
        gate.signal()
        let ended = try ex.wait(timeout: 5)
        #expect(ended.count == 1 && ended[0].0 == h && ended[0].1.value == 7)
    }

    @Test func cancelReportsCancelledOnceTheClosureEnds() throws {
        let ex = try InProcessExecutor()
        let gate = DispatchSemaphore(value: 0)
        let h = try ex.submit(spec("c") { gate.wait(); return AttemptOutcome(value: 1) }, slot: 0)
        try ex.cancel(h)
        gate.signal()
        let ended = try ex.wait(timeout: 5)
        #expect(ended.count == 1 && ended[0].1.failure == .cancelled && ended[0].1.value == nil)
        #expect(throws: ExecutorError.self) { try ex.cancel(h) }
    }

    @Test func reattachReportsInterrupted() throws {
        let ex = try InProcessExecutor(slots: 2)
        let old = [AttemptHandle(executor: "inprocess", jobID: "1-2-3", slot: 0), AttemptHandle(executor: "inprocess", jobID: "1-2-4", slot: 1)]
        try ex.reattach(old.map { ($0, spec($0.jobID) { AttemptOutcome(value: 1) }) })
        #expect(Set(ex.inFlight) == Set(old))
        let ended = try ex.wait(timeout: 1)
        #expect(ended.map(\.0) == old && ended.allSatisfy { $0.1.failure == .interrupted })
        #expect(ex.inFlight.isEmpty)
    }

    @Test func submitWithoutAClosureIsRefused() throws {
        let ex = try InProcessExecutor()
        #expect(throws: ExecutorError.self) { try ex.submit(AttemptSpec(label: "cmd", directory: "/tmp", command: ["true"]), slot: 0) }
        #expect(throws: ExecutorError.self) { try ex.submit(spec("x") { AttemptOutcome(value: 1) }, slot: 1) }
        #expect(throws: ExecutorError.self) { try InProcessExecutor(slots: 0) }
    }

    /// The coordinator's budget is < 10 ms per trial, flat at 100,000 trials: submit, wait and
    /// report must cost O(1). Measures the round trip (submit → the slot's thread → wait) of a
    /// trivial closure, 100,000 times on one slot.
    @Test func overheadIsSmallAndFlatAt100kTrials() throws {
        let ex = try InProcessExecutor()
        let total = 100_000, window = 10_000
        var marks: [Double] = []
        let start = Posix.monotonic()
        for i in 0..<total {
            if i % window == 0 { marks.append(Posix.monotonic()) }
            let h = try ex.submit(AttemptSpec(label: "t", directory: "", inProcess: { AttemptOutcome(value: Double(i)) }), slot: 0)
            let ended = try ex.wait(timeout: 10)
            guard ended.count == 1, ended[0].0 == h, ended[0].1.value == Double(i) else {
                Issue.record("trial \(i): \(ended)"); return
            }
        }
        marks.append(Posix.monotonic())
        let perTrial = (Posix.monotonic() - start) / Double(total)
        let windows = zip(marks.dropFirst(), marks).map { ($0 - $1) / Double(window) }
        print("inprocess round trip: \(String(format: "%.1f", perTrial * 1e6)) µs/trial over \(total); per 10k window: \(windows.map { String(format: "%.1f", $0 * 1e6) })")
        #expect(perTrial < 1e-3)
        // Flat: the last window costs no more than a few times the first (noise on a shared machine).
        #expect(windows.last! < max(4 * windows.first!, 2e-4))
    }
}

@Suite struct ExecutorRegistryTests {
    @Test func buildsEachKind() throws {
        let inprocess = try ExecutorRegistry.make(ExecutorConfig(kind: "inprocess", slots: 4))
        #expect(inprocess.kind == "inprocess" && inprocess.slots == 4)
        let local = try ExecutorRegistry.make(ExecutorConfig(kind: "local", slots: 3, env: ["A": "1"], grace: 2), supervisor: Binary.path)
        #expect(local.kind == "local" && local.slots == 3)
        let gpus = try #require(try ExecutorRegistry.make(ExecutorConfig(kind: "local", gpus: [1, 0]), supervisor: Binary.path) as? LocalExecutor)
        #expect(gpus.slots == 2 && gpus.slotEnvironment(0) == ["CUDA_VISIBLE_DEVICES": "1"] && gpus.grace == 10)
        #expect(ExecutorRegistry.kinds == ["inprocess", "local", "slurm"])
    }

    @Test func decodesFromJSON() throws {
        let config = try JSONDecoder().decode(ExecutorConfig.self, from: Data(#"{"kind": "local", "gpus": [0, 2], "env": {"X": "y"}}"#.utf8))
        #expect(config == ExecutorConfig(kind: "local", gpus: [0, 2], env: ["X": "y"]))
    }

    @Test(arguments: [
        (ExecutorConfig(kind: "cloud"), "executor.kind: unknown executor 'cloud'; known: inprocess, local, slurm"),
        (ExecutorConfig(kind: "inprocess", slots: 0), "executor.slots: must be at least 1, got 0"),
        (ExecutorConfig(kind: "inprocess", gpus: [0]), "executor.gpus: not used by the inprocess executor; remove it"),
        (ExecutorConfig(kind: "local", gpus: []), "executor.gpus: give at least one GPU index, e.g. [0, 1]"),
        (ExecutorConfig(kind: "local", gpus: [0, 0]), "executor.gpus: [0, 0] lists a GPU twice"),
        (ExecutorConfig(kind: "local", gpus: [-1]), "executor.gpus: -1 is not a GPU index (>= 0)"),
        (ExecutorConfig(kind: "local", slots: 3, gpus: [0, 1]), "executor.slots: 3 does not match the 2 GPUs of executor.gpus (one slot per GPU; drop slots)"),
        (ExecutorConfig(kind: "local", grace: -1), "executor.grace: must be a finite number of seconds >= 0, got -1.0"),
        (ExecutorConfig(kind: "local", supervisor: "/no/such/mergetune"), "executor.supervisor: /no/such/mergetune is not an executable file (give the mergetune binary)"),
    ])
    func errorsNameTheKey(_ config: ExecutorConfig, _ message: String) throws {
        #expect(throws: ExecutorConfigError.self) { try ExecutorRegistry.make(config, supervisor: config.supervisor == nil ? Binary.path : nil) }
        do { _ = try ExecutorRegistry.make(config, supervisor: config.supervisor == nil ? Binary.path : nil) } catch {
            #expect("\(error)" == message)
        }
    }
}
