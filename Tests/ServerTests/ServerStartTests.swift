import Engine
import Foundation
import XCTest
@testable import Server

/// `GLMServer.init` reads the small files (tokenizer, generation config) before the weights, so a broken one
/// fails before any weight is loaded.
final class ServerStartTests: XCTestCase {
    private var folder: URL?

    override func tearDown() {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    /// A model folder with the fixture's weights and config (linked) and `text` written as `file`.
    private func modelFolder(breaking file: String, with text: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glmserve-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        let source = ServerHarness.modelDirectory
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path) where name != file {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name),
                                                       withDestinationURL: source.appendingPathComponent(name))
        }
        try Data(text.utf8).write(to: folder.appendingPathComponent(file))
        return folder
    }

    private func assertFailsBeforeLoadingWeights(breaking file: String, with text: String) throws {
        var options = ServerOptions(modelDirectory: try modelFolder(breaking: file, with: text))
        options.http.port = 0
        options.http.log = { _ in }
        options.threads = 1
        let loadedBytes = Counter()
        XCTAssertThrowsError(try GLMServer(options: options) { loadedBytes.value += $0.bytesLoaded }, file)
        XCTAssertEqual(loadedBytes.value, 0, "weights were loaded before \(file) was read")
    }

    func testBrokenTokenizerFailsBeforeTheWeightsLoad() throws {
        try assertFailsBeforeLoadingWeights(breaking: "tokenizer.json", with: "{\"model\": ")
    }

    func testBrokenGenerationConfigFailsBeforeTheWeightsLoad() throws {
        try assertFailsBeforeLoadingWeights(breaking: "generation_config.json", with: "[1, 2")
    }

    func testIntactFolderLoadsAndReportsProgress() throws {
        var options = ServerOptions(modelDirectory: try modelFolder(breaking: "unused.txt", with: ""))
        options.http.port = 0
        options.http.log = { _ in }
        options.threads = 1
        let loadedBytes = Counter()
        let server = try GLMServer(options: options) { loadedBytes.value = max(loadedBytes.value, $0.bytesLoaded) }
        XCTAssertGreaterThan(loadedBytes.value, 0)
        server.shutdown()
        server.model.stop()
    }
}

private final class Counter: @unchecked Sendable {
    var value = 0
}
