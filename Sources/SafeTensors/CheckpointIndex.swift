import Foundation

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
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw fail("not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else { throw fail("not a JSON object") }
        guard let map = root["weight_map"] as? [String: Any] else {
            throw fail("missing 'weight_map' object")
        }
        guard !map.isEmpty else { throw fail("'weight_map' is empty") }
        var weightMap: [String: String] = [:]
        for (tensor, value) in map {
            guard let file = value as? String else {
                throw SafeTensorsError(file: name, tensor: tensor, problem: "weight_map value is not a file name string")
            }
            guard CheckpointIndex.isPlainFileName(file) else {
                throw SafeTensorsError(file: name, tensor: tensor,
                                       problem: "weight_map names '\(file)', which is not a plain file name in the model folder")
            }
            weightMap[tensor] = file
        }
        self.weightMap = weightMap
        totalSize = ((root["metadata"] as? [String: Any])?["total_size"] as? NSNumber)?.intValue
    }

    /// A name without directory parts, so an index cannot point outside its folder.
    private static func isPlainFileName(_ file: String) -> Bool {
        !file.isEmpty && file != "." && file != ".." && !file.contains("/") && !file.contains("\0")
    }
}
