import Foundation

/// The text normalizer: none, or a sequence of Unicode normalization forms.
struct Normalizer {
    enum Form: String {
        case nfc = "NFC", nfd = "NFD", nfkc = "NFKC", nfkd = "NFKD"
    }

    let forms: [Form]

    var isIdentity: Bool { forms.isEmpty }

    func normalize(_ text: String) -> String {
        var result = text
        for form in forms {
            switch form {
            case .nfc: result = result.precomposedStringWithCanonicalMapping
            case .nfd: result = result.decomposedStringWithCanonicalMapping
            case .nfkc: result = result.precomposedStringWithCompatibilityMapping
            case .nfkd: result = result.decomposedStringWithCompatibilityMapping
            }
        }
        return result
    }
}
