import Foundation
import XCTest
@testable import Tokenizer

/// A GLM-sized vocabulary (151329 entries, 150k merges, 36 added tokens) built in memory: it loads, its
/// merges work, and the load time is printed (not asserted; the figure that matters is from a release build,
/// see Scripts/bench_tokenizer.py).
final class LargeVocabularyTests: XCTestCase {
    func testLoadsA150kVocabulary() throws {
        // Entries beyond the 256 bytes: every two-letter and three-letter string over a 53-letter alphabet
        // that is needed to reach the size, each built by one merge of its first part and last letter.
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZĠ").map(String.init)
        var builder = TokenizerJSONBuilder()
        builder.ignoreMerges = false
        for first in letters {
            for second in letters {
                builder.extraTokens.append(first + second)
                builder.merges.append((first, second))
            }
        }
        outer: for pair in builder.extraTokens {
            for third in letters {
                if builder.extraTokens.count >= 151_329 - 256 { break outer }
                builder.extraTokens.append(pair + third)
                builder.merges.append((pair, third))
            }
        }
        builder.addedTokens = (0..<36).map {
            TokenizerJSONBuilder.addedToken("<|added_\($0)|>", id: 151_329 + $0, special: $0 < 18)
        }
        let json = try builder.json()
        let start = DispatchTime.now()
        let tokenizer = try Tokenizer(tokenizerJSON: json)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print(String(format: "150k vocabulary (%.1f MB JSON, %d merges): loaded in %.3f s (this build's optimisation level)",
                     Double(json.count) / 1e6, builder.merges.count, seconds))
        XCTAssertEqual(tokenizer.vocabularySize, 151_365)
        XCTAssertEqual(tokenizer.encode("abc<|added_35|>"), [builder.id(of: "abc"), 151_364])
        // "xy" (rank 23·53+24) merges before "Ġx" (rank 52·53+23), then "xy"+"z"; no rule joins "Ġ" and "xyz".
        XCTAssertEqual(tokenizer.encode(" xyz"), [builder.id(of: "Ġ"), builder.id(of: "xyz")])
        XCTAssertTrue(tokenizer.isSpecial(151_329))
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("Zebra crossing")), "Zebra crossing")
    }
}
