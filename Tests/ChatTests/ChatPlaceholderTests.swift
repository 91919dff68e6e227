import XCTest
@testable import Chat

final class ChatPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertTrue(true) }
}
