import JSON

/// The non-streaming `/v1/messages` answer (protocol.md §10.2) and the `count_tokens` answer.
public enum AnthropicResponseBuilder {
    /// Content blocks in order: `thinking` (the reasoning, if any), `text` (the content, if any), then one `tool_use`
    /// per call with `input` = the decoded arguments object (`{}` if they are not a JSON object).
    public static func message(id: String = AnthropicIDs.messageID(), model: String, output: ParsedOutput,
                               stop: AnthropicStop, usage: AnthropicUsage,
                               signature: String = AnthropicIDs.signature()) -> JSONValue {
        var content: [JSONValue] = []
        if let reasoning = output.reasoning, !reasoning.isEmpty {
            content.append(["type": "thinking", "thinking": .string(reasoning), "signature": .string(signature)])
        }
        if !output.content.isEmpty {
            content.append(["type": "text", "text": .string(output.content)])
        }
        for call in output.toolCalls {
            content.append(toolUseBlock(id: AnthropicIDs.toolUseID(forCallID: call.id), name: call.name,
                                        input: inputObject(call.arguments)))
        }
        return envelope(id: id, model: model, content: content, stop: stop, usage: usage)
    }

    /// The answer for the deltas the parser produced, with the blocks `AnthropicStreamEncoder` streams for them:
    /// a new block whenever the kind of output changes, in the order generated (so a call made inside the
    /// reasoning comes before the text that follows it). Use this one so whole and streamed answers agree.
    public static func message(id: String = AnthropicIDs.messageID(), model: String, deltas: [OutputDelta],
                               stop: AnthropicStop, usage: AnthropicUsage,
                               makeSignature: () -> String = AnthropicIDs.signature) -> JSONValue {
        envelope(id: id, model: model, content: blocks(from: deltas, makeSignature: makeSignature), stop: stop,
                 usage: usage)
    }

    /// Folds deltas into content blocks by the streaming rules.
    static func blocks(from deltas: [OutputDelta], makeSignature: () -> String) -> [JSONValue] {
        enum Block {
            case thinking(String), text(String)
            case toolUse(call: Int, id: String, name: String, arguments: String)
        }
        var blocks: [Block] = []
        for delta in deltas {
            switch (delta, blocks.last) {
            case (.reasoning(let t), _) where t.isEmpty, (.content(let t), _) where t.isEmpty:
                continue
            case (.reasoning(let t), .thinking(let before)?):
                blocks[blocks.count - 1] = .thinking(before + t)
            case (.reasoning(let t), _):
                blocks.append(.thinking(t))
            case (.content(let t), .text(let before)?):
                blocks[blocks.count - 1] = .text(before + t)
            case (.content(let t), _):
                blocks.append(.text(t))
            case (.toolCallStart(let index, let id, let name), _):
                blocks.append(.toolUse(call: index, id: id, name: name, arguments: ""))
            case (.toolCallArguments(let index, let fragment), .toolUse(let call, let id, let name, let arguments)?)
                where call == index:
                blocks[blocks.count - 1] = .toolUse(call: call, id: id, name: name, arguments: arguments + fragment)
            case (.toolCallArguments, _):
                continue  // not after its call's start: dropped, as the stream encoder does
            }
        }
        return blocks.map { block in
            switch block {
            case .thinking(let text):
                return ["type": "thinking", "thinking": .string(text), "signature": .string(makeSignature())]
            case .text(let text):
                return ["type": "text", "text": .string(text)]
            case .toolUse(_, let id, let name, let arguments):
                return toolUseBlock(id: AnthropicIDs.toolUseID(forCallID: id), name: name, input: inputObject(arguments))
            }
        }
    }

    static func envelope(id: String, model: String, content: [JSONValue], stop: AnthropicStop,
                         usage: AnthropicUsage) -> JSONValue {
        ["id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
         "content": .array(content), "stop_reason": .string(stop.reason.rawValue),
         "stop_sequence": JSONValue(stop.sequence), "usage": usage.jsonValue]
    }

    /// `POST /v1/messages/count_tokens` answer: `{"input_tokens": N}` (N = tokens of the rendered prompt).
    public static func countTokens(inputTokens: Int) -> JSONValue {
        ["input_tokens": JSONValue(inputTokens)]
    }

    static func toolUseBlock(id: String, name: String, input: JSONObject) -> JSONValue {
        ["type": "tool_use", "id": .string(id), "name": .string(name), "input": .object(input)]
    }

    static func inputObject(_ arguments: String) -> JSONObject {
        (try? JSONValue.parse(arguments))?.object ?? JSONObject()
    }
}
