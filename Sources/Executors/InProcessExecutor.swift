import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `AttemptSpec.inProcess` closures on `slots` threads of this process: for objectives
/// cheap enough that a process per trial would dominate (surrogates, analytic functions, the
/// testbed). Every event costs O(1): a handoff to the slot's thread and an append to the queue
/// of ended attempts. A closure cannot be interrupted: `cancel` lets it finish and reports it
/// `cancelled`; timeouts are not enforced. After a coordinator crash nothing of the attempt
/// survives, so `reattach` reports each one `interrupted`. docs/executors.md.
public final class InProcessExecutor: TrialExecutor {
    public let kind = "inprocess"
    public let slots: Int

    private final class Slot: @unchecked Sendable {
        let condition = NSCondition()
        var job: (handle: AttemptHandle, run: @Sendable () -> AttemptOutcome)?
        var stopping = false
    }
    private final class Done: @unchecked Sendable {
        let condition = NSCondition()
        var ended: [(AttemptHandle, AttemptOutcome)] = []
    }
    private let slotStates: [Slot]
    private let done = Done()
    /// Touched by the coordinator's thread only.
    private var running: Set<AttemptHandle> = []
    private var cancelled: Set<AttemptHandle> = []
    private var interrupted: [(AttemptHandle, AttemptOutcome)] = []
    private var sequence: UInt64 = 0
    private var busy: [Bool]
    /// Distinguishes this instance's job ids from those a previous coordinator recorded.
    private let prefix = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    public init(slots: Int = 1) throws {
        guard slots >= 1 else { throw ExecutorError("executor.slots: must be at least 1, got \(slots)") }
        self.slots = slots
        busy = Array(repeating: false, count: slots)
        slotStates = (0..<slots).map { _ in Slot() }
        for (i, slot) in slotStates.enumerated() {
            let done = self.done
            let thread = Thread { InProcessExecutor.serve(slot, done) }
            thread.name = "mergetune-inprocess-\(i)"
            thread.stackSize = 8 << 20  // testbed forward passes recurse deeper than the 512 KiB default
            thread.start()
        }
    }

    deinit {
        for slot in slotStates {
            slot.condition.lock(); slot.stopping = true; slot.condition.signal(); slot.condition.unlock()
        }
    }

    /// A slot's thread: runs its jobs one by one until the executor goes away.
    private static func serve(_ slot: Slot, _ done: Done) {
        while true {
            slot.condition.lock()
            while slot.job == nil && !slot.stopping { slot.condition.wait() }
            guard let job = slot.job else { slot.condition.unlock(); return }
            slot.job = nil
            slot.condition.unlock()
            let start = Posix.monotonic()
            var outcome = job.run()
            if let value = outcome.value, !value.isFinite {
                outcome = AttemptOutcome(extras: outcome.extras, failure: .nonFinite, detail: "value \(value)")
            } else if outcome.value == nil && outcome.failure == nil {
                outcome.failure = .noOutput
                outcome.detail = outcome.detail ?? "the objective returned neither a value nor a failure"
            }
            if outcome.seconds == nil { outcome.seconds = Posix.monotonic() - start }
            done.condition.lock()
            done.ended.append((job.handle, outcome))
            done.condition.signal()
            done.condition.unlock()
        }
    }

    public var inFlight: [AttemptHandle] { Array(running) + interrupted.map(\.0) }

    public func submit(_ attempt: AttemptSpec, slot: Int) throws -> AttemptHandle {
        guard (0..<slots).contains(slot) else { throw ExecutorError("inprocess executor: slot \(slot) out of range 0..<\(slots)") }
        guard !busy[slot] else { throw ExecutorError("inprocess executor: slot \(slot) is busy (\(attempt.label) needs a free one)") }
        guard let run = attempt.inProcess else {
            throw ExecutorError("\(attempt.label): the inprocess executor runs only built-in objectives (no in-process evaluation given)")
        }
        sequence += 1
        let handle = AttemptHandle(executor: kind, jobID: "\(prefix)-\(sequence)", host: Posix.hostName, slot: slot)
        busy[slot] = true
        running.insert(handle)
        let state = slotStates[slot]
        state.condition.lock()
        state.job = (handle, run)
        state.condition.signal()
        state.condition.unlock()
        return handle
    }

    public func wait(timeout: Double) throws -> [(AttemptHandle, AttemptOutcome)] {
        var ended = interrupted
        interrupted = []
        if ended.isEmpty && !running.isEmpty {
            let deadline = Date(timeIntervalSinceNow: max(0, timeout))
            done.condition.lock()
            while done.ended.isEmpty && done.condition.wait(until: deadline) {}
            swap(&ended, &done.ended)
            done.condition.unlock()
        } else {
            done.condition.lock(); ended += done.ended; done.ended = []; done.condition.unlock()
        }
        for i in ended.indices {
            let handle = ended[i].0
            guard running.remove(handle) != nil else { continue }
            busy[handle.slot] = false
            if cancelled.remove(handle) != nil {
                ended[i].1 = AttemptOutcome(failure: .cancelled, detail: "cancelled (the evaluation ran to its end and was discarded)",
                                            host: ended[i].1.host, seconds: ended[i].1.seconds)
            }
        }
        return ended
    }

    public func cancel(_ handle: AttemptHandle) throws {
        guard running.contains(handle) else {
            if interrupted.contains(where: { $0.0 == handle }) { return }
            throw ExecutorError("inprocess executor: cannot cancel \(handle.jobID): not in flight")
        }
        cancelled.insert(handle)
    }

    /// Nothing of a previous process's attempts survives it: each is `interrupted`.
    public func reattach(_ attempts: [(AttemptHandle, AttemptSpec)]) throws {
        for (handle, spec) in attempts {
            interrupted.append((handle, .failed(.interrupted, "\(spec.label): the coordinator stopped while it ran in its process")))
        }
    }
}
