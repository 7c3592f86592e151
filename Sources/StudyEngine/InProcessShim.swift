import Foundation
import Executors

// TEMPORARY (replaced by Executors.InProcessExecutor when it lands).
final class InProcessShim: TrialExecutor, @unchecked Sendable {
    let kind = "inprocess"
    let slots: Int
    private let condition = NSCondition()
    private var finished: [(AttemptHandle, AttemptOutcome)] = []
    private var running: [AttemptHandle] = []
    private var counter = 0
    private let queue = DispatchQueue(label: "inprocess", attributes: .concurrent)

    init(slots: Int) { self.slots = slots }

    var inFlight: [AttemptHandle] { condition.lock(); defer { condition.unlock() }; return running }

    func submit(_ attempt: AttemptSpec, slot: Int) throws -> AttemptHandle {
        condition.lock()
        counter += 1
        let handle = AttemptHandle(executor: kind, jobID: String(counter), slot: slot)
        running.append(handle)
        condition.unlock()
        let work = attempt.inProcess ?? { AttemptOutcome.failed(.submitFailed, "no in-process evaluation") }
        queue.async { [self] in
            let outcome = work()
            condition.lock()
            finished.append((handle, outcome))
            running.removeAll { $0 == handle }
            condition.signal()
            condition.unlock()
        }
        return handle
    }

    func wait(timeout: Double) throws -> [(AttemptHandle, AttemptOutcome)] {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while finished.isEmpty { if !condition.wait(until: deadline) { break } }
        let out = finished
        finished = []
        return out
    }

    func reattach(_ attempts: [(AttemptHandle, AttemptSpec)]) throws {
        condition.lock(); defer { condition.unlock() }
        for (h, _) in attempts { finished.append((h, .failed(.interrupted, "the coordinator stopped while it ran in-process"))) }
    }

    func cancel(_ handle: AttemptHandle) throws {}
}
