import ArgumentParser

/// `glmserve`: serve GLM-4.x MoE models over an OpenAI-compatible API, and inspect them.
/// Each subcommand lives in its own file (`<Name>Command.swift`).
@main
struct GLMServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "glmserve",
        abstract: "Run GLM-4.5 / GLM-4.6 / GLM-4.5-Air on CPUs behind an OpenAI-compatible HTTP API.",
        subcommands: [
            ServeCommand.self,
            ScoreCommand.self, GenerateCommand.self, BenchCommand.self, PerplexityCommand.self, QuantizeCommand.self,
            BenchGrammarCommand.self,
            TokenizeCommand.self, DetokenizeCommand.self, RenderCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
