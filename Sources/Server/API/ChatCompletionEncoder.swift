import Chat
import Foundation
import JSON

/// Builds `chat.completion` and `chat.completion.chunk` objects as openai-python's types define them.
struct ChatCompletionEncoder {
    let id: String
    let created: Int
    let model: String
    let includeUsageField: Bool
    let excludeReasoning: Bool

    static let systemFingerprint = "fp_glmserve"

    init(model: String, includeUsageField: Bool, excludeReasoning: Bool) {
        id = "chatcmpl-" + ChatCompletionEncoder.randomHex(24)
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

    /// A chunk with one choice carrying `delta` (and `finish_reason`).
    func chunk(delta: JSONObject, finishReason: String? = nil) -> String {
        var o = envelope(object: "chat.completion.chunk")
        var choice = JSONObject()
        choice["index"] = 0
        choice["delta"] = .object(delta)
        choice["logprobs"] = .null
        choice["finish_reason"] = finishReason.map(JSONValue.string) ?? .null
        o["choices"] = .array([.object(choice)])
        if includeUsageField { o["usage"] = .null }
        return JSONValue.object(o).serialized()
    }

    /// The opening chunk: `{"role": "assistant", "content": ""}`.
    func roleChunk() -> String {
        chunk(delta: ["role": "assistant", "content": ""])
    }

    /// Chunks for a batch of parser deltas; consecutive text of one kind is merged.
    func chunks(for deltas: [OutputDelta]) -> [String] {
        var out: [String] = []
        var pendingKind: String?
        var pendingText = ""
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

    func finishChunk(reason: String) -> String {
        chunk(delta: [:], finishReason: reason)
    }

    /// The final `choices: []` chunk carrying usage.
    func usageChunk(_ summary: CompletionSummary) -> String {
        var o = envelope(object: "chat.completion.chunk")
        o["choices"] = .array([])
        o["usage"] = ChatCompletionEncoder.usage(summary)
        return JSONValue.object(o).serialized()
    }

    // MARK: whole answers

    func completion(deltas: [OutputDelta], summary: CompletionSummary) -> String {
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
        choice["logprobs"] = .null
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
