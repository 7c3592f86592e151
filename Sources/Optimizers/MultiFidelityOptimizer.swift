/// The refinement of `Optimizer` for objectives with fidelities (docs/studies.md, "Fidelities"):
/// every trial it hands out carries the fidelity to evaluate it at, an index into the
/// objective's fidelities (0 = cheapest; the last is full fidelity). A plain `Optimizer` on such
/// an objective evaluates every trial at full fidelity.
///
/// The ask/tell contract is `Optimizer`'s: ids in hand-out order (asks and adopts count), tells
/// in any order, never waits, and the state is a pure function of the seed and the event
/// sequence, replayed by adopting each recorded point *with its recorded fidelity*.
public protocol MultiFidelityOptimizer: Optimizer {
    /// How many fidelities the objective has (fidelity indices are 0..<fidelityCount).
    var fidelityCount: Int { get }
    /// The next trial: a point in [0,1]^d and the fidelity to evaluate it at.
    func askWithFidelity() throws -> (point: [Double], fidelity: Int)
    /// Replay: the next trial was handed out at `point`, at fidelity `fidelity`.
    func adopt(_ point: [Double], fidelity: Int) throws
}
