/// A chat-completions request whose shape the GLM chat format cannot render (the server answers HTTP 400).
/// `param` names the offending field as a path, e.g. `messages[2].role` or `tools[0]`.
public struct ChatRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public let param: String?

    public init(_ message: String, param: String?) {
        self.message = message
        self.param = param
    }

    public var description: String {
        guard let param else { return message }
        return "\(message) (\(param))"
    }
}
