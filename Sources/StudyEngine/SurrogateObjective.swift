import Foundation

/// Placeholder until the Surrogate module lands (replaced by the RBF-backed objective).
enum SurrogateSupport {
    static let kernels = ["linear", "thin_plate_spline", "cubic", "quintic", "multiquadric",
                          "inverse_multiquadric", "inverse_quadratic", "gaussian"]

    static func makeObjective(_ spec: ObjectiveSpec, file: String, key: String) throws -> any Objective {
        throw SpecError(file: file, key: "\(key).kind", "surrogate objectives need the Surrogate module (not merged yet)")
    }
}
