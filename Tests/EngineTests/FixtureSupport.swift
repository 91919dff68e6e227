import Foundation
import SafeTensors
import XCTest
@testable import Engine

/// The fixture models of Tests/Fixtures/models (found relative to this file) and their reference tensors.
enum Fixtures {
    static let modelsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    static let names = ["tiny-bf16", "tiny-f32", "tiny-air-bf16", "tiny-air-f32", "tiny-chat-bf16"]

    static func directory(_ name: String) -> URL { modelsDirectory.appendingPathComponent(name) }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var models: [String: GLMModel] = [:]

    /// Each fixture model is loaded once per test run.
    static func model(_ name: String) throws -> GLMModel {
        lock.lock(); defer { lock.unlock() }
        if let model = models[name] { return model }
        let model = try GLMModel.load(from: directory(name), numerics: .exact)
        models[name] = model
        return model
    }

    static func reference(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: directory(name).appendingPathComponent("reference.safetensors"))
    }
}

extension SafeTensorsFile {
    func floats(_ name: String) throws -> [Float] { try tensor(named: name).floats() }
    func ints(_ name: String) throws -> [Int32] { try tensor(named: name).int32s() }
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var worst: Float = 0
    for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}

func argmax(_ values: ArraySlice<Float>) -> Int {
    var best = values.startIndex
    for i in values.indices where values[i] > values[best] { best = i }
    return best - values.startIndex
}
