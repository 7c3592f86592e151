// Element types of the safetensors format and their conversion to and from Float.

public enum DType: String, Sendable, CaseIterable, Codable {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8"
    case u16 = "U16", i16 = "I16"
    case u32 = "U32", i32 = "I32"
    case u64 = "U64", i64 = "I64"
    case f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64"

    public var itemSize: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .u16, .i16, .f16, .bf16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }

    /// Parses "bf16", "BF16", "bfloat16", "float32", ... (for command-line options).
    public init?(userName: String) {
        switch userName.lowercased() {
        case "bf16", "bfloat16": self = .bf16
        case "f16", "fp16", "float16", "half": self = .f16
        case "f32", "fp32", "float32", "float": self = .f32
        case "f64", "fp64", "float64", "double": self = .f64
        default:
            guard let d = DType(rawValue: userName.uppercased()) else { return nil }
            self = d
        }
    }
}

// MARK: - Scalar bit conversions

/// bf16 → f32 is exact: bf16 is the top half of an f32.
@inline(__always) public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// f32 → bf16 with round-to-nearest-even; NaN stays a (quiet) NaN, ±inf stays ±inf.
@inline(__always) public func floatToBF16(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: u >> 16) | 0x0040 }
    let roundingBias: UInt32 = 0x7FFF + ((u >> 16) & 1)
    return UInt16(truncatingIfNeeded: (u &+ roundingBias) >> 16)
}

/// IEEE half → f32 (exact, including subnormals, inf and NaN).
@inline(__always) public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x03FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // Subnormal half: value = mant × 2^-24, exactly representable in f32.
        let v = Float(mant) * Float(bitPattern: 0x3380_0000)  // 2^-24
        return sign != 0 ? -v : v
    }
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// f32 → IEEE half with round-to-nearest-even (overflow → inf, underflow → subnormal/zero).
@inline(__always) public func floatToHalf(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: (u >> 16) & 0x8000)
    let absU = u & 0x7FFF_FFFF
    if absU >= 0x7F80_0000 {  // inf or NaN
        return sign | 0x7C00 | (absU > 0x7F80_0000 ? 0x0200 : 0)
    }
    if absU >= 0x4780_0000 { return sign | 0x7C00 }  // ≥ 65536 rounds to inf
    if absU < 0x3880_0000 {  // below the smallest normal half 2^-14: subnormal or zero
        // Scale so the half subnormal unit (2^-24) becomes 1, and let the FPU round to nearest even.
        let v = Float(bitPattern: absU) * Float(bitPattern: 0x4B80_0000)  // 2^24
        let r = v.rounded(.toNearestOrEven)
        return sign | UInt16(r)
    }
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even.
    let shifted = absU &- 0x3800_0000  // exponent bias 127 → 15
    let rounded = shifted &+ 0x0FFF &+ ((shifted >> 13) & 1)
    return sign | UInt16(truncatingIfNeeded: rounded >> 13)
}

// MARK: - Buffer conversions

/// Converts `count` elements of `dtype` at `src` (little-endian, any alignment) to Float.
public func convertToFloat(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
    switch dtype {
    case .bf16:
        for i in 0..<count { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .f16:
        for i in 0..<count { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .f32:
        for i in 0..<count { dst[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
    case .f64:
        for i in 0..<count { dst[i] = Float(Double(bitPattern: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
    case .bool, .u8:
        for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
    case .i8:
        for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
    case .u16:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .i16:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
    case .u32:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
    case .i32:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
    case .u64:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
    case .i64:
        for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
    }
}

/// Converts Float to `dtype` bytes (little-endian). Integer types round to nearest and saturate.
public func convertFromFloat(_ src: UnsafePointer<Float>, count: Int, to dtype: DType, into dst: UnsafeMutableRawPointer) {
    func sat<T: FixedWidthInteger>(_ x: Float, _: T.Type) -> T {
        if x.isNaN { return 0 }
        let r = x.rounded(.toNearestOrEven)
        if r <= Float(T.min) { return T.min }
        if r >= Float(T.max) { return T.max }
        return T(r)
    }
    switch dtype {
    case .bf16:
        for i in 0..<count { dst.storeBytes(of: floatToBF16(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
    case .f16:
        for i in 0..<count { dst.storeBytes(of: floatToHalf(src[i]), toByteOffset: 2 * i, as: UInt16.self) }
    case .f32:
        for i in 0..<count { dst.storeBytes(of: src[i].bitPattern, toByteOffset: 4 * i, as: UInt32.self) }
    case .f64:
        for i in 0..<count { dst.storeBytes(of: Double(src[i]).bitPattern, toByteOffset: 8 * i, as: UInt64.self) }
    case .bool:
        for i in 0..<count { dst.storeBytes(of: UInt8(src[i] != 0 ? 1 : 0), toByteOffset: i, as: UInt8.self) }
    case .u8: for i in 0..<count { dst.storeBytes(of: sat(src[i], UInt8.self), toByteOffset: i, as: UInt8.self) }
    case .i8: for i in 0..<count { dst.storeBytes(of: sat(src[i], Int8.self), toByteOffset: i, as: Int8.self) }
    case .u16: for i in 0..<count { dst.storeBytes(of: sat(src[i], UInt16.self), toByteOffset: 2 * i, as: UInt16.self) }
    case .i16: for i in 0..<count { dst.storeBytes(of: sat(src[i], Int16.self), toByteOffset: 2 * i, as: Int16.self) }
    case .u32: for i in 0..<count { dst.storeBytes(of: sat(src[i], UInt32.self), toByteOffset: 4 * i, as: UInt32.self) }
    case .i32: for i in 0..<count { dst.storeBytes(of: sat(src[i], Int32.self), toByteOffset: 4 * i, as: Int32.self) }
    case .u64: for i in 0..<count { dst.storeBytes(of: sat(src[i], UInt64.self), toByteOffset: 8 * i, as: UInt64.self) }
    case .i64: for i in 0..<count { dst.storeBytes(of: sat(src[i], Int64.self), toByteOffset: 8 * i, as: Int64.self) }
    }
}
