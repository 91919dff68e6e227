import ArgumentParser

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "score", abstract: "(not built yet)")
    func run() throws { throw ValidationError("'score' is not built yet") }
}
