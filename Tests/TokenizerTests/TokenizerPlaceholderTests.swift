import XCTest
@testable import Tokenizer

final class TokenizerPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
