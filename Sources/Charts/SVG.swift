import Foundation

/// Text for XML character data and attribute values: &, <, >, " and ' escaped, and characters
/// XML 1.0 forbids (controls other than tab, newline, return) dropped.
public func escapeXML(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default:
            if u.value < 0x20 && u != "\t" && u != "\n" && u != "\r" { continue }
            if u.value == 0xFFFE || u.value == 0xFFFF { continue }
            out.unicodeScalars.append(u)
        }
    }
    return out
}

/// A coordinate with one decimal (pixels): fast, locale-free, no "-0".
public func px(_ x: Double) -> String {
    guard x.isFinite else { return "0" }
    let tenths = Int((x * 10).rounded())
    if tenths == 0 { return "0" }
    let sign = tenths < 0 ? "-" : ""
    let a = abs(tenths)
    return a % 10 == 0 ? "\(sign)\(a / 10)" : "\(sign)\(a / 10).\(a % 10)"
}

/// A data value as written into `data-*` attributes: Swift's shortest round-trip form, so a
/// test can compare it to the summary's JSON number exactly.
public func dataNumber(_ x: Double) -> String {
    x.isFinite ? "\(x)" : (x.isNaN ? "NaN" : (x > 0 ? "inf" : "-inf"))
}

/// An SVG document being written: elements with escaped attributes, in order.
public struct SVGWriter {
    public private(set) var text = ""
    private var stack: [String] = []

    public init() {}

    static func attributes(_ attrs: KeyValuePairs<String, String>) -> String {
        var s = ""
        for (k, v) in attrs { s += " \(k)=\"\(escapeXML(v))\"" }
        return s
    }

    static func attributes(_ attrs: [(String, String)]) -> String {
        var s = ""
        for (k, v) in attrs { s += " \(k)=\"\(escapeXML(v))\"" }
        return s
    }

    public mutating func open(_ tag: String, _ attrs: [(String, String)] = [], title: String? = nil) {
        text += "<\(tag)\(SVGWriter.attributes(attrs))>"
        if let title { text += "<title>\(escapeXML(title))</title>" }
        stack.append(tag)
    }

    public mutating func close() {
        text += "</\(stack.removeLast())>"
    }

    /// An element without children (but for its tooltip).
    public mutating func leaf(_ tag: String, _ attrs: [(String, String)], title: String? = nil) {
        if let title {
            text += "<\(tag)\(SVGWriter.attributes(attrs))><title>\(escapeXML(title))</title></\(tag)>"
        } else {
            text += "<\(tag)\(SVGWriter.attributes(attrs))/>"
        }
    }

    /// A <text> element.
    public mutating func label(_ s: String, x: Double, y: Double, anchor: String = "start", attrs: [(String, String)] = [],
                               size: Double? = nil, rotate: Bool = false) {
        var a: [(String, String)] = [("x", px(x)), ("y", px(y))]
        if anchor != "start" { a.append(("text-anchor", anchor)) }
        if let size { a.append(("font-size", px(size))) }
        if rotate { a.append(("transform", "rotate(-90 \(px(x)) \(px(y)))")) }
        text += "<text\(SVGWriter.attributes(a + attrs))>\(escapeXML(s))</text>"
    }

    /// Raw, already well-formed SVG.
    public mutating func raw(_ s: String) { text += s }
}

/// Colours for series: Okabe and Ito's colour-blind-safe set (with black moved last), then grey tones.
public enum Palette {
    public static let colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#7f7f7f",
                                "#8c564b", "#F0E442"]
    public static func color(_ i: Int) -> String { colors[((i % colors.count) + colors.count) % colors.count] }

    /// Marker shapes, one per series index.
    public static let markers: [Marker] = [.circle, .square, .triangle, .diamond, .cross, .plus]
    public static func marker(_ i: Int) -> Marker { markers[((i % markers.count) + markers.count) % markers.count] }

    /// A sequential ramp for heatmaps (dark blue → teal → yellow, perceptually increasing), t in [0, 1].
    public static func ramp(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [(0.267, 0.005, 0.329), (0.231, 0.322, 0.545), (0.129, 0.569, 0.549),
                                                 (0.369, 0.788, 0.384), (0.992, 0.906, 0.145)]
        let u = min(1, max(0, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = min(Int(u), stops.count - 2)
        let f = u - Double(i)
        func mix(_ a: Double, _ b: Double) -> Int { Int(((a + (b - a) * f) * 255).rounded()) }
        let (r, g, b) = (mix(stops[i].0, stops[i + 1].0), mix(stops[i].1, stops[i + 1].1), mix(stops[i].2, stops[i + 1].2))
        return "#" + [r, g, b].map { String(format: "%02x", $0) }.joined()
    }
}

public enum Marker: String, Sendable, Codable {
    case circle, square, triangle, diamond, cross, plus, star

    /// The marker centred at (x, y) with radius r, as one SVG element.
    func element(x: Double, y: Double, r: Double, color: String, filled: Bool = true, outline: String? = nil) -> (String, [(String, String)]) {
        let (tag, a) = shape(x: x, y: y, r: r, color: color, filled: filled)
        guard let outline, filled, self != .cross, self != .plus, self != .star else { return (tag, a) }
        return (tag, a.map { $0.0 == "stroke" ? ("stroke", outline) : $0 } + [("stroke-width", "0.6")])
    }

    func shape(x: Double, y: Double, r: Double, color: String, filled: Bool) -> (String, [(String, String)]) {
        let fill = filled ? color : "none"
        switch self {
        case .circle:
            return ("circle", [("cx", px(x)), ("cy", px(y)), ("r", px(r)), ("fill", fill), ("stroke", color)])
        case .square:
            return ("rect", [("x", px(x - r)), ("y", px(y - r)), ("width", px(2 * r)), ("height", px(2 * r)), ("fill", fill), ("stroke", color)])
        case .triangle:
            return ("path", [("d", "M\(px(x)) \(px(y - r * 1.2))L\(px(x + r * 1.1)) \(px(y + r * 0.8))L\(px(x - r * 1.1)) \(px(y + r * 0.8))Z"), ("fill", fill), ("stroke", color)])
        case .diamond:
            return ("path", [("d", "M\(px(x)) \(px(y - r * 1.3))L\(px(x + r)) \(px(y))L\(px(x)) \(px(y + r * 1.3))L\(px(x - r)) \(px(y))Z"), ("fill", fill), ("stroke", color)])
        case .cross:
            return ("path", [("d", "M\(px(x - r)) \(px(y - r))L\(px(x + r)) \(px(y + r))M\(px(x - r)) \(px(y + r))L\(px(x + r)) \(px(y - r))"), ("fill", "none"), ("stroke", color), ("stroke-width", "2")])
        case .plus:
            return ("path", [("d", "M\(px(x - r * 1.2)) \(px(y))L\(px(x + r * 1.2)) \(px(y))M\(px(x)) \(px(y - r * 1.2))L\(px(x)) \(px(y + r * 1.2))"), ("fill", "none"), ("stroke", color), ("stroke-width", "2")])
        case .star:
            var d = ""
            for k in 0..<10 {
                let a = Double.pi / 2 + Double(k) * Double.pi / 5
                let rr = k % 2 == 0 ? r * 1.6 : r * 0.7
                d += (k == 0 ? "M" : "L") + "\(px(x + rr * cos(a))) \(px(y - rr * sin(a)))"
            }
            return ("path", [("d", d + "Z"), ("fill", fill), ("stroke", "#000"), ("stroke-width", "0.8")])
        }
    }
}
