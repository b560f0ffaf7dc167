import Foundation

/// Text cleaning and word splitting exactly as transformers' `CLIPTokenizer` does it (its tokenizers backend,
/// which is what diffusers runs with transformers 5; without ftfy this is also what the old Python tokenizer
/// did for ordinary text): special tokens — BOS, EOS and the pad token, so with SDXL's "!" padding every "!"
/// in a prompt becomes the special id 0 — are cut out of the raw text first (case-sensitive), each remaining
/// piece is NFC-normalised, runs of whitespace become one space, every character is lowercased on its own, and
/// the words are the matches of
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (everything between matches — whitespace — is dropped), each then split again by GPT-2's byte-level
/// pattern. The second split only changes the two special literals (a lowercased "<|ENDOFTEXT|>" that was not
/// cut out as a special becomes "<|", "endoftext", "|>"), so the scanner below simply leaves the literals out.
enum CLIPPreTokenizer {
    /// A run of raw text: either a special token or ordinary text to be normalised and split.
    enum Segment: Equatable {
        case special(String)
        case text(String)
    }

    /// Cuts the special tokens out of `text`: leftmost match first, the longest when several start there.
    static func segments(_ text: String, specialTokens: [String]) -> [Segment] {
        var result = [Segment]()
        var rest = Substring(text)
        while !rest.isEmpty {
            let hits = specialTokens.compactMap { token in
                rest.range(of: token, options: .literal).map { (token, $0) }
            }
            guard let (token, range) = hits.min(by: {
                $0.1.lowerBound != $1.1.lowerBound ? $0.1.lowerBound < $1.1.lowerBound : $0.0.count > $1.0.count
            }) else {
                result.append(.text(String(rest)))
                break
            }
            if range.lowerBound > rest.startIndex { result.append(.text(String(rest[..<range.lowerBound]))) }
            result.append(.special(token))
            rest = rest[range.upperBound...]
        }
        return result
    }

    /// NFC, whitespace runs → one space, per-character lowercase (no context rules: Σ → σ even word-finally).
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        var scalars = [Unicode.Scalar]()
        var previousWasSpace = false
        for scalar in text.precomposedStringWithCanonicalMapping.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !previousWasSpace { scalars.append(" ") }
                previousWasSpace = true
                continue
            }
            previousWasSpace = false
            if scalar.properties.changesWhenLowercased {
                scalars.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                scalars.append(scalar)
            }
        }
        return scalars
    }

    /// The regex's matches over normalised text, as strings.
    static func words(_ scalars: [Unicode.Scalar]) -> [String] {
        var words = [String]()
        var index = 0
        let count = scalars.count
        func isLetter(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return false
            }
        }
        func isNumber(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func isOther(_ s: Unicode.Scalar) -> Bool { !s.properties.isWhitespace && !isLetter(s) && !isNumber(s) }
        func matches(_ literal: String, at position: Int) -> Bool {
            var i = position
            for scalar in literal.unicodeScalars {
                guard i < count, scalars[i] == scalar else { return false }
                i += 1
            }
            return true
        }
        func emit(_ start: Int, _ end: Int) {
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[start..<end])
            words.append(String(word))
        }
        let literals = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
        while index < count {
            let scalar = scalars[index]
            if let literal = literals.first(where: { matches($0, at: index) }) {
                let length = literal.unicodeScalars.count
                emit(index, index + length)
                index += length
            } else if isLetter(scalar) {
                var end = index + 1
                while end < count && isLetter(scalars[end]) { end += 1 }
                emit(index, end)
                index = end
            } else if isNumber(scalar) {
                emit(index, index + 1)
                index += 1
            } else if isOther(scalar) {
                var end = index + 1
                while end < count && isOther(scalars[end]) { end += 1 }
                emit(index, end)
                index = end
            } else {
                index += 1  // whitespace separates words and is dropped
            }
        }
        return words
    }
}
