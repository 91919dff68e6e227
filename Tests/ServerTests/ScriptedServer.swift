import Foundation
import HTTP
import JSON
import Tokenizer
import XCTest
@testable import Server

/// A `LanguageModel` whose logits always make the next token of a fixed script the most likely one, so the
/// request path can be tested on outputs the random fixture weights never produce (reasoning, tool calls).
final class ScriptedLanguageModel: LanguageModel {
    let script: [Int]
    let vocabularySize: Int

    init(script: [Int], vocabularySize: Int) {
        self.script = script
        self.vocabularySize = vocabularySize
    }

    func makeSession(capacity: Int) throws -> InferenceSession { Session(model: self, capacity: capacity) }

    final class Session: InferenceSession {
        let model: ScriptedLanguageModel
        let capacity: Int
        private(set) var count = 0
        private var promptLength: Int?

        init(model: ScriptedLanguageModel, capacity: Int) {
            self.model = model
            self.capacity = capacity
        }

        func truncate(to count: Int) {
            self.count = min(self.count, count)
            promptLength = nil
        }

        func append(_ tokens: [Int]) throws -> [Float] {
            count += tokens.count
            if promptLength == nil { promptLength = count }
            let step = count - (promptLength ?? count)
            var logits = [Float](repeating: 0, count: model.vocabularySize)
            if step < model.script.count { logits[model.script[step]] = 50 }
            return logits
        }
    }
}

/// An HTTP server with the API on a `ScriptedLanguageModel` and the tiny fixture's tokenizer, on a free port.
final class ScriptedServer {
    let http: HTTPServer
    let served: ServedModel
    private let stopped = DispatchSemaphore(value: 0)

    /// A server whose model writes `text` (then `<|observation|>`).
    convenience init(scripting text: String, apiKey: String? = nil) throws {
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text)
        try self.init(scriptTokens: tokenizer.encode(text), apiKey: apiKey)
    }

    /// A server whose model writes `scriptTokens` (then `<|observation|>`).
    init(scriptTokens: [Int], apiKey: String? = nil) throws {
        let tokenizer = try Tokenizer(directory: ServerHarness.modelDirectory)
        let stop = try XCTUnwrap(tokenizer.id(forToken: "<|observation|>"))
        served = ServedModel(id: "scripted", tokenizer: tokenizer, defaults: GenerationDefaults(), modelEOSTokenIDs: [],
                             languageModel: ScriptedLanguageModel(script: scriptTokens + [stop],
                                                                  vocabularySize: tokenizer.vocabularySize),
                             contextSize: 4096, maxQueue: 4)
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.log = { _ in }
        http = try HTTPServer(configuration: configuration, handler: APIRouter(model: served, apiKey: apiKey))
        let server = http, stopped = self.stopped
        Thread { server.run(); stopped.signal() }.start()
    }

    var port: Int { http.port }
    var tokenizer: Tokenizer { served.tokenizer }

    func stop() {
        http.shutdown()
        _ = stopped.wait(timeout: .now() + 30)
        served.stop()
    }
}
