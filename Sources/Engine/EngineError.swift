import Foundation

/// Everything the engine refuses: a bad `config.json`, weights that do not match it, bad calls.
/// Each case names the file and, where it applies, the tensor.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    /// `config.json` is missing, not JSON, or has a value the engine cannot run.
    case invalidConfig(file: String, problem: String)
    /// A tensor the config requires is absent from the checkpoint.
    case missingTensor(file: String, tensor: String)
    /// A tensor exists but its shape, dtype or companion tensors do not fit the config.
    case badTensor(file: String, tensor: String, problem: String)
    /// The checkpoint could not be opened or read (message from the SafeTensors reader).
    case checkpoint(String)
    /// A token id outside `0 ..< vocab_size`.
    case tokenOutOfRange(id: Int32, vocabSize: Int)
    /// The KV cache cannot hold the tokens asked for.
    case cacheFull(count: Int, adding: Int, capacity: Int)
    /// More positions asked for than the model has: prompt + new tokens > `max_position_embeddings`.
    case contextTooLong(promptTokens: Int, newTokens: Int, limit: Int)
    /// A call the model cannot serve (empty input, a cache from another model, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .invalidConfig(file, problem): return "\(file): invalid config: \(problem)"
        case let .missingTensor(file, tensor): return "\(file): tensor '\(tensor)' is missing"
        case let .badTensor(file, tensor, problem): return "\(file): tensor '\(tensor)': \(problem)"
        case let .checkpoint(message): return message
        case let .tokenOutOfRange(id, vocab): return "token id \(id) is outside the vocabulary (0 ..< \(vocab))"
        case let .cacheFull(count, adding, capacity):
            return "KV cache full: holds \(count) of \(capacity) tokens, cannot add \(adding)"
        case let .contextTooLong(prompt, new, limit):
            return "prompt (\(prompt) tokens) + new tokens (\(new)) exceed the model's context of "
                + "\(limit) tokens (max_position_embeddings)"
        case let .invalidArgument(message): return message
        }
    }
}
