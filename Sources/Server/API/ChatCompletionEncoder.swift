import Chat
import Foundation
import JSON
import Tokenizer

/// Builds `chat.completion` and `chat.completion.chunk` objects as openai-python's types define them.
struct ChatCompletionEncoder {
    let id: String
    let created: Int
    let model: String
    let includeUsageField: Bool
    let excludeReasoning: Bool
    /// For the text and bytes of logprobs entries.
    let tokenizer: Tokenizer?

    static let systemFingerprint = "fp_glmserve"

    /// - Parameter id: the completion's id (Z.ai's `request_id`); a fresh `chatcmpl-…` when nil.
    init(model: String, includeUsageField: Bool, excludeReasoning: Bool, id: String? = nil, tokenizer: Tokenizer? = nil) {
        self.id = id ?? "chatcmpl-" + ChatCompletionEncoder.randomHex(24)
        self.tokenizer = tokenizer
        created = Int(Date().timeIntervalSince1970)
        self.model = model
        self.includeUsageField = includeUsageField
        self.excludeReasoning = excludeReasoning
    }

    static func randomHex(_ digits: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<digits).map { _ in "0123456789abcdef".randomElement(using: &generator) ?? "0" })
    }

    private func envelope(object: String) -> JSONObject {
        var o = JSONObject()
        o["id"] = .string(id)
        o["object"] = .string(object)
        o["created"] = JSONValue(created)
        o["model"] = .string(model)
        o["system_fingerprint"] = .string(ChatCompletionEncoder.systemFingerprint)
        return o
    }

    // MARK: streaming

    /// A chunk with one choice carrying `delta` (and `finish_reason`, and `logprobs` when given).
    func chunk(delta: JSONObject, finishReason: String? = nil, logprobs: JSONValue? = nil) -> String {
        var o = envelope(object: "chat.completion.chunk")
        var choice = JSONObject()
        choice["index"] = 0
        choice["delta"] = .object(delta)
        choice["logprobs"] = logprobs ?? .null
        choice["finish_reason"] = finishReason.map(JSONValue.string) ?? .null
        o["choices"] = .array([.object(choice)])
        if includeUsageField { o["usage"] = .null }
        return JSONValue.object(o).serialized()
    }

    /// The opening chunk: `{"role": "assistant", "content": ""}`.
    func roleChunk() -> String {
        chunk(delta: ["role": "assistant", "content": ""])
    }

    /// Chunks for a batch of parser deltas; consecutive text of one kind is merged. `logprobs`, when given, is
    /// asked once for the entries the first chunk carries.
    func chunks(for deltas: [OutputDelta], logprobs: (() -> JSONValue?)? = nil) -> [String] {
        var out: [String] = []
        var pendingKind: String?
        var pendingText = ""
        var logprobs = logprobs
        func chunk(delta: JSONObject) -> String {
            let entries = logprobs?()
            logprobs = nil
            return self.chunk(delta: delta, logprobs: entries)
        }
        func flushText() {
            if let kind = pendingKind, !pendingText.isEmpty {
                out.append(chunk(delta: [kind: .string(pendingText)]))
            }
            pendingKind = nil
            pendingText = ""
        }
        for delta in deltas {
            switch delta {
            case let .reasoning(text):
                if excludeReasoning { continue }
                if pendingKind != "reasoning_content" { flushText(); pendingKind = "reasoning_content" }
                pendingText += text
            case let .content(text):
                if pendingKind != "content" { flushText(); pendingKind = "content" }
                pendingText += text
            case let .toolCallStart(index, callID, name):
                flushText()
                let call: JSONValue = ["index": JSONValue(index), "id": .string(callID), "type": "function",
                                       "function": ["name": .string(name), "arguments": ""]]
                out.append(chunk(delta: ["tool_calls": [call]]))
            case let .toolCallArguments(index, fragment):
                flushText()
                guard !fragment.isEmpty else { continue }
                let call: JSONValue = ["index": JSONValue(index), "function": ["arguments": .string(fragment)]]
                out.append(chunk(delta: ["tool_calls": [call]]))
            }
        }
        flushText()
        return out
    }

    func finishChunk(reason: String, logprobs: JSONValue? = nil) -> String {
        chunk(delta: [:], finishReason: reason, logprobs: logprobs)
    }

    // MARK: logprobs

    /// `{"content": [...]}` in OpenAI's shape, plus `"reasoning": [...]` (same shape) for the reasoning's
    /// tokens when there are any and reasoning is not excluded.
    func logprobs(content: [TokenLogprob], reasoning: [TokenLogprob]) -> JSONValue {
        var o = JSONObject()
        o["content"] = .array(content.map(entry))
        if !reasoning.isEmpty && !excludeReasoning { o["reasoning"] = .array(reasoning.map(entry)) }
        return .object(o)
    }

    private func entry(_ e: TokenLogprob) -> JSONValue {
        var o = tokenFields(e.token, e.logprob)
        o["top_logprobs"] = .array(e.top.map { .object(tokenFields($0.token, $0.logprob)) })
        return .object(o)
    }

    private func tokenFields(_ token: Int, _ logprob: Float) -> JSONObject {
        let bytes = tokenizer?.bytes(ofToken: token) ?? []
        var o = JSONObject()
        o["token"] = .string(tokenizer?.decode([token]) ?? "")
        o["logprob"] = logprob.isFinite ? JSONValue(Double(logprob)) : JSONValue(-9999.0)
        o["bytes"] = .array(bytes.map { JSONValue(Int($0)) })
        return o
    }

    /// The final `choices: []` chunk carrying usage.
    func usageChunk(_ summary: CompletionSummary) -> String {
        var o = envelope(object: "chat.completion.chunk")
        o["choices"] = .array([])
        o["usage"] = ChatCompletionEncoder.usage(summary)
        return JSONValue.object(o).serialized()
    }

    // MARK: whole answers

    func completion(deltas: [OutputDelta], summary: CompletionSummary, logprobs: JSONValue? = nil) -> String {
        var reasoning = ""
        var content = ""
        var calls: [(id: String, name: String, arguments: String)] = []
        for delta in deltas {
            switch delta {
            case let .reasoning(text): reasoning += text
            case let .content(text): content += text
            case let .toolCallStart(index, callID, name):
                while calls.count <= index { calls.append(("", "", "")) }
                calls[index].id = callID
                calls[index].name = name
            case let .toolCallArguments(index, fragment):
                while calls.count <= index { calls.append(("", "", "")) }
                calls[index].arguments += fragment
            }
        }
        var message = JSONObject()
        message["role"] = "assistant"
        let blank = content.allSatisfy(\.isWhitespace)
        message["content"] = (blank && !calls.isEmpty) ? .null : .string(content)
        let trimmedReasoning = reasoning.trimmingCharacters(in: .whitespacesAndNewlines)
        if !excludeReasoning && !trimmedReasoning.isEmpty {
            message["reasoning_content"] = .string(trimmedReasoning)
        }
        if !calls.isEmpty {
            message["tool_calls"] = .array(calls.map { call in
                ["id": .string(call.id), "type": "function",
                 "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
            })
        }
        var choice = JSONObject()
        choice["index"] = 0
        choice["message"] = .object(message)
        choice["logprobs"] = logprobs ?? .null
        choice["finish_reason"] = .string(summary.finishReason)
        var o = envelope(object: "chat.completion")
        o["choices"] = .array([.object(choice)])
        o["usage"] = ChatCompletionEncoder.usage(summary)
        return JSONValue.object(o).serialized()
    }

    static func usage(_ s: CompletionSummary) -> JSONValue {
        ["prompt_tokens": JSONValue(s.promptTokens),
         "completion_tokens": JSONValue(s.completionTokens),
         "total_tokens": JSONValue(s.promptTokens + s.completionTokens),
         "prompt_tokens_details": ["cached_tokens": JSONValue(s.cachedTokens)],
         "completion_tokens_details": ["reasoning_tokens": JSONValue(s.reasoningTokens)]]
    }
}
