import Foundation
import JSON

/// `model.safetensors.index.json`: `{"metadata": {"total_size": bytes}, "weight_map": {tensor name: file name}}`.
struct CheckpointIndex: Sendable {
    static let fileName = "model.safetensors.index.json"

    /// Tensor name → shard file name.
    let weightMap: [String: String]
    /// `metadata.total_size`, when present.
    let totalSize: Int?

    init(url: URL) throws {
        let name = url.lastPathComponent
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: name, problem: problem) }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw fail("cannot read: \(error.localizedDescription)")
        }
        let root: JSONObject
        do {
            // A tensor mapped twice would be read from whichever shard the parser kept.
            guard let parsed = try JSONValue.parse(data, duplicateKeys: .rejected).object else {
                throw fail("not a JSON object")
            }
            root = parsed
        } catch let error as JSONDuplicateKeyError {
            guard error.path.count == 2, error.path[0] == "weight_map" else {
                throw fail("key path \(error.path) is written more than once (byte \(error.offset))")
            }
            throw SafeTensorsError(file: name, tensor: error.key, problem: "appears more than once in 'weight_map'")
        } catch let error as JSONParseError {
            throw fail("not valid JSON (\(error))")
        }
        guard let map = root["weight_map"]?.object else {
            throw fail("missing 'weight_map' object")
        }
        guard !map.isEmpty else { throw fail("'weight_map' is empty") }
        var weightMap: [String: String] = [:]
        weightMap.reserveCapacity(map.count)
        for (tensor, value) in map {
            guard let file = value.string else {
                throw SafeTensorsError(file: name, tensor: tensor, problem: "weight_map value is not a file name string")
            }
            guard CheckpointIndex.isPlainFileName(file) else {
                throw SafeTensorsError(file: name, tensor: tensor,
                                       problem: "weight_map names '\(file)', which is not a plain file name in the model folder")
            }
            weightMap[tensor] = file
        }
        self.weightMap = weightMap
        totalSize = root["metadata"]?["total_size"]?.int
    }

    /// A name without directory parts, so an index cannot point outside its folder.
    private static func isPlainFileName(_ file: String) -> Bool {
        !file.isEmpty && file != "." && file != ".." && !file.contains("/") && !file.contains("\0")
    }
}
