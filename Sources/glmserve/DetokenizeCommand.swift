import ArgumentParser

struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detokenize", abstract: "(not built yet)")
    func run() throws { throw ValidationError("'detokenize' is not built yet") }
}
