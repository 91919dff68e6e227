import XCTest
@testable import Server

final class ByteCountTextTests: XCTestCase {
    func testSmallModelsShowMegabytes() {
        XCTAssertEqual(ByteCountText.progress(12_345_678, of: 24_600_000), "12.35 of 24.60 MB")
        XCTAssertEqual(ByteCountText.text(99_993_696), "99.99 MB")
    }

    func testLargeModelsShowDecimalGigabytes() {
        XCTAssertEqual(ByteCountText.progress(120_000_000_000, of: 350_000_000_000), "120.00 of 350.00 GB")
        XCTAssertEqual(ByteCountText.progress(0, of: 1_000_000_000), "0.00 of 1.00 GB")
        XCTAssertEqual(ByteCountText.text(2_500_000_000), "2.50 GB")
    }
}
