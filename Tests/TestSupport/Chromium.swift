import Foundation

/// Headless Chromium (Debian's `chromium` package) for tests that look at pages as a person
/// would: the DOM after the page's scripts ran, and screenshots. Tests that need it skip with a
/// message when it is missing, unless MERGETUNE_REQUIRE_CHROMIUM is set (CI sets it: there a
/// missing browser fails the tests instead).
public enum Chromium {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The browser's path, nil when none is installed.
    public static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            for dir in path.split(separator: ":") {
                let candidate = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        return nil
    }()

    /// CI requires the browser: tests then fail rather than skip.
    public static var required: Bool {
        let v = ProcessInfo.processInfo.environment["MERGETUNE_REQUIRE_CHROMIUM"] ?? ""
        return !v.isEmpty && v != "0"
    }

    /// Whether browser tests run: the browser is there, or it is required (and its absence fails them).
    public static var enabled: Bool { executable != nil || required }

    public static let skipMessage = "chromium is not installed (apt-get install chromium); set MERGETUNE_REQUIRE_CHROMIUM=1 to fail instead of skipping"

    /// The page's DOM as serialized after `budgetMs` of virtual time (its timers and fetches ran).
    public static func dumpDOM(url: String, width: Int = 1280, height: Int = 900, budgetMs: Int = 4000) throws -> String {
        let r = try run(["--dump-dom", "--window-size=\(width),\(height)", "--virtual-time-budget=\(budgetMs)", url])
        guard r.status == 0, r.stdout.contains("<html") else {
            throw Failure(description: "chromium --dump-dom \(url) exited \(r.status) without a page: \(r.stderr.suffix(2000))")
        }
        return r.stdout
    }

    /// A PNG of the page (`width` × `height` CSS pixels) after `budgetMs` of virtual time.
    public static func screenshot(url: String, to file: URL, width: Int = 1280, height: Int = 900, budgetMs: Int = 4000) throws {
        try? FileManager.default.removeItem(at: file)
        let r = try run(["--screenshot=\(file.path)", "--window-size=\(width),\(height)", "--virtual-time-budget=\(budgetMs)", url])
        guard r.status == 0, FileManager.default.fileExists(atPath: file.path) else {
            throw Failure(description: "chromium --screenshot \(url) exited \(r.status) and wrote no \(file.path): \(r.stderr.suffix(2000))")
        }
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the browser with a fresh profile, output through files, killed after `timeout` s.
    static func run(_ arguments: [String], timeout: TimeInterval = 90) throws -> Output {
        guard let executable else { throw Failure(description: skipMessage) }
        let scratch = Scratch.directory("chromium")
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        // No sandbox (tests run as root in CI), no GPU, /tmp instead of a small /dev/shm, no
        // first-run work; a profile of its own so parallel runs never share one.
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--no-default-browser-check", "--hide-scrollbars", "--disable-extensions", "--mute-audio",
                       "--user-data-dir=\(scratch.appendingPathComponent("profile").path)"] + arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            throw Failure(description: "chromium \(arguments.joined(separator: " ")) did not finish in \(Int(timeout)) s")
        }
        return Output(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

/// Just enough of an HTML reader for assertions on a dumped DOM: the start tags that carry an
/// attribute, with their attributes, and the text of elements by id.
public enum DOM {
    public struct Element: Sendable {
        public var tag: String
        public var attributes: [String: String]
        /// Offset of the tag in the document (for "inside" checks).
        public var offset: Int
        public subscript(_ name: String) -> String? { attributes[name] }
    }

    /// Every start tag in the document, in order.
    public static func elements(_ html: String) -> [Element] {
        var result: [Element] = []
        let chars = Array(html.utf8)
        var i = 0
        while i < chars.count {
            guard chars[i] == UInt8(ascii: "<"), i + 1 < chars.count, isNameStart(chars[i + 1]) else { i += 1; continue }
            let start = i
            i += 1
            var j = i
            while j < chars.count, isNameChar(chars[j]) { j += 1 }
            let tag = String(decoding: chars[i..<j], as: UTF8.self).lowercased()
            var attributes: [String: String] = [:]
            i = j
            while i < chars.count, chars[i] != UInt8(ascii: ">") {
                if isSpace(chars[i]) || chars[i] == UInt8(ascii: "/") { i += 1; continue }
                var k = i
                while k < chars.count, !isSpace(chars[k]), chars[k] != UInt8(ascii: "="), chars[k] != UInt8(ascii: ">") { k += 1 }
                let name = String(decoding: chars[i..<k], as: UTF8.self).lowercased()
                i = k
                var value = ""
                if i < chars.count, chars[i] == UInt8(ascii: "=") {
                    i += 1
                    if i < chars.count, chars[i] == UInt8(ascii: "\"") || chars[i] == UInt8(ascii: "'") {
                        let q = chars[i]
                        var e = i + 1
                        while e < chars.count, chars[e] != q { e += 1 }
                        value = String(decoding: chars[(i + 1)..<min(e, chars.count)], as: UTF8.self)
                        i = e + 1
                    } else {
                        var e = i
                        while e < chars.count, !isSpace(chars[e]), chars[e] != UInt8(ascii: ">") { e += 1 }
                        value = String(decoding: chars[i..<e], as: UTF8.self)
                        i = e
                    }
                }
                if !name.isEmpty { attributes[name] = unescape(value) }
            }
            result.append(Element(tag: tag, attributes: attributes, offset: start))
            i += 1
            // A script's or style's text is not markup.
            if tag == "script" || tag == "style" {
                let end = Array("</\(tag)".utf8)
                while i + end.count <= chars.count, !chars[i..<(i + end.count)].elementsEqual(end) { i += 1 }
            }
        }
        return result
    }

    /// Elements that have attribute `name` (and, if given, that value).
    public static func elements(_ html: String, with name: String, equal value: String? = nil) -> [Element] {
        elements(html).filter { e in e[name].map { value == nil || $0 == value } ?? false }
    }

    /// The text inside the element with this id (tags dropped, entities decoded, spaces collapsed).
    public static func text(_ html: String, id: String) -> String? {
        inner(html, id: id).map(plain)
    }

    /// The markup inside the element with this id (nested elements of its own tag included).
    public static func inner(_ html: String, id: String) -> String? {
        guard let open = html.range(of: " id=\"\(id)\"") else { return nil }
        guard let tagEnd = html[open.upperBound...].firstIndex(of: ">"),
              let tagStart = html[..<open.lowerBound].lastIndex(of: "<") else { return nil }
        let tag = String(html[html.index(after: tagStart)...].prefix { $0.isLetter || $0.isNumber })
        var depth = 1
        var cursor = html.index(after: tagEnd)
        let contentStart = cursor
        while cursor < html.endIndex {
            guard let lt = html[cursor...].firstIndex(of: "<") else { return nil }
            let rest = html[lt...]
            if rest.hasPrefix("</\(tag)>") {
                depth -= 1
                if depth == 0 { return String(html[contentStart..<lt]) }
            } else if rest.hasPrefix("<\(tag)"), let next = rest.dropFirst(tag.count + 1).first, next == " " || next == ">" {
                depth += 1
            }
            cursor = html.index(after: lt)
        }
        return nil
    }

    /// Text with tags removed, entities decoded and whitespace collapsed.
    public static func plain(_ fragment: String) -> String {
        var out = "", inTag = false
        for c in fragment {
            if c == "<" { inTag = true; out.append(" "); continue }
            if c == ">" { inTag = false; continue }
            if !inTag { out.append(c) }
        }
        return unescape(out).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&nbsp;", with: " ").replacingOccurrences(of: "&amp;", with: "&")
    }

    static func isNameStart(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }
    static func isNameChar(_ c: UInt8) -> Bool { isNameStart(c) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ":") }
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0C }
}

/// Width and height of a PNG file (from its IHDR chunk), nil if it is not a PNG.
public func pngSize(_ file: URL) -> (width: Int, height: Int)? {
    guard let d = try? Data(contentsOf: file), d.count > 24,
          d.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return nil }
    func be32(_ o: Int) -> Int { d[o..<(o + 4)].reduce(0) { $0 << 8 | Int($1) } }
    return (be32(16), be32(20))
}
