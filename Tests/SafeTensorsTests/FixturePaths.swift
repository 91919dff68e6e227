import Foundation

/// Locations of the shared fixtures, found relative to this source file.
enum FixturePaths {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()      // SafeTensorsTests
        .deletingLastPathComponent()      // Tests
        .appendingPathComponent("Fixtures")

    static let models = fixtures.appendingPathComponent("models")

    static func model(_ name: String) -> URL { models.appendingPathComponent(name) }

    /// Every fixture model folder (those with an index).
    static var allModels: [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: models.path)) ?? []
        // The transformers fixtures (README §5) carry fixture.json; the quantized q-* folders are tested in EngineTests.
        return names.sorted().map(model).filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("model.safetensors.index.json").path)
                && FileManager.default.fileExists(atPath: $0.appendingPathComponent("fixture.json").path)
        }
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Parses a JSON file into a dictionary.
    static func json(_ url: URL) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        guard let dictionary = object as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return dictionary
    }
}
