import ArgumentParser
import Engine
import Foundation
import Tokenizer

/// `glmserve perplexity`: how well the model predicts a text file (`GLMModel.perplexity`).
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file, scored in windows of --ctx tokens (each from an empty cache).")

    @Option(name: .long, help: "Model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @Option(name: .long, help: "UTF-8 text file to score.")
    var file: String

    @Option(name: .long, help: "Window: each window starts at a multiple of this and holds ctx + 1 tokens.")
    var ctx: Int = 512

    @Option(name: .long, help: "Tokens per forward within a window (default: the whole window); 1 scores every token through the decode path.")
    var step: Int?

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        guard ctx >= 1 else { throw ValidationError("--ctx must be at least 1") }
        if let step, step < 1 { throw ValidationError("--step must be at least 1") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CommandInputError("cannot read --file '\(file)'")
        }
        let text = try CommandInput.text(data)
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let tokens = tokenizer.encode(text).map { Int32($0) }
        guard tokens.count >= 2 else {
            throw CommandInputError("'\(file)' has \(tokens.count) token(s); perplexity needs at least 2")
        }
        let glm = try engine.load(model, populate: true, context: (promptTokens: min(ctx + 1, tokens.count), newTokens: 0))
        let interactive = isatty(STDERR_FILENO) != 0
        let start = Date()
        let result = try glm.perplexity(of: tokens, window: ctx, step: step) { done, total in
            if interactive { FileHandle.standardError.write(Data("\rscoring window \(done)/\(total)".utf8)) }
        }
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(String(format: "{\"perplexity\": %.6f, \"tokens\": %d, \"windows\": %d, \"ctx\": %d, "
                + "\"numerics\": \"%@\", \"seconds\": %.3f}", result.perplexity, result.countedTokens, result.windows,
                ctx, glm.numerics.rawValue, seconds))
        } else {
            print(String(format: "perplexity %.4f over %d tokens (%d windows of %d, %@ products) in %.1f s",
                         result.perplexity, result.countedTokens, result.windows, ctx, glm.numerics.rawValue, seconds))
        }
    }
}
