import Foundation

/// The package's built executables, which sit next to the test bundle in the products
/// directory (the end-to-end tests run `mergetune` itself).
public enum BuiltProducts {
    public static func url(of name: String) -> URL {
        var candidates: [URL] = []
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 { candidates.append(dir.appendingPathComponent(name)); dir.deleteLastPathComponent() }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent(name))
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// The built `mergetune`.
    public static let mergetune: URL = url(of: "mergetune")
}
