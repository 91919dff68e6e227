/// Every failure of this module: which file, which tensor (when one is involved) and what is wrong.
///
/// `description` reads like
/// `model-00002-of-00004.safetensors: tensor 'model.layers.1.mlp.gate.weight': data_offsets [100, 90] end before begin`.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file's name (last path component), or the directory for checkpoint-level problems.
    public let file: String
    /// The tensor concerned, if any.
    public let tensor: String?
    /// What is wrong, in words.
    public let problem: String

    public init(file: String, tensor: String? = nil, problem: String) {
        self.file = file
        self.tensor = tensor
        self.problem = problem
    }

    public var description: String {
        if let tensor {
            return "\(file): tensor '\(tensor)': \(problem)"
        }
        return "\(file): \(problem)"
    }
}
