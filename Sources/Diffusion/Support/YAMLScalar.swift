/// YAML 1.2 core-schema resolution of plain scalars, shared by the decoder (reading) and the encoder (deciding
/// when a string must be quoted so it reads back as a string).
extension YAMLScalar {
    var boolValue: Bool? {
        guard isPlain else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// Decimal `[-+]?[0-9]+`, octal `0o…`, hexadecimal `0x…`; nil when not an integer or out of `I`'s range.
    func integerValue<I: FixedWidthInteger>(_: I.Type) -> I? {
        guard isPlain, let (digits, radix) = Self.integerDigits(text) else { return nil }
        return I(digits, radix: radix)
    }

    var looksLikeInteger: Bool { isPlain && Self.integerDigits(text) != nil }

    /// Decimal floats (`1`, `-2.5`, `1e-4`, `.5`), `.inf`, `-.inf`, `.nan`; integers read as floats too.
    func floatingValue<F: LosslessStringConvertible & BinaryFloatingPoint>(_: F.Type) -> F? {
        guard isPlain else { return nil }
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        if let (digits, radix) = Self.integerDigits(text), radix != 10 {
            return Int64(digits, radix: radix).map { F($0) }
        }
        guard Self.isDecimalFloat(text) else { return nil }
        return F(text)
    }

    /// What a plain scalar would read as, for "expected …, found …" messages.
    var foundDescription: String {
        if isNull { return "null" }
        let shown = text.count > 40 ? String(text.prefix(37)) + "..." : text
        return isPlain ? "'\(shown)'" : "the string \"\(shown)\""
    }

    private static func integerDigits(_ text: String) -> (Substring, Int)? {
        if text.hasPrefix("0o"), text.count > 2, text.dropFirst(2).allSatisfy({ ("0"..."7").contains($0) }) {
            return (text.dropFirst(2), 8)
        }
        if text.hasPrefix("0x"), text.count > 2, text.dropFirst(2).allSatisfy(\.isHexDigit) {
            return (text.dropFirst(2), 16)
        }
        let unsigned = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
        guard !unsigned.isEmpty, unsigned.allSatisfy(\.isASCIIDigit) else { return nil }
        return (Substring(text), 10)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, checked by hand so that Swift's own parser
    /// (which also takes hex floats, `inf` and `nan`) only ever sees YAML syntax.
    private static func isDecimalFloat(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
        let integerPart = rest.prefix(while: \.isASCIIDigit)
        rest = rest.dropFirst(integerPart.count)
        var fractionPart: Substring = ""
        if rest.first == "." {
            rest = rest.dropFirst()
            fractionPart = rest.prefix(while: \.isASCIIDigit)
            rest = rest.dropFirst(fractionPart.count)
        }
        guard !integerPart.isEmpty || !fractionPart.isEmpty else { return false }
        if rest.first == "e" || rest.first == "E" {
            rest = rest.dropFirst()
            if rest.first == "-" || rest.first == "+" { rest = rest.dropFirst() }
            let exponent = rest.prefix(while: \.isASCIIDigit)
            guard !exponent.isEmpty else { return false }
            rest = rest.dropFirst(exponent.count)
        }
        return rest.isEmpty
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
