import ArgumentParser
import Chat
import Foundation
import JSON

/// `glmserve render --model DIR`: a chat-completions request body on stdin → the GLM prompt, printed as a JSON
/// string. The GLM-4.5/4.6 format is built in; DIR is only checked for a template of another family.
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render a chat-completions request (JSON on stdin) into the GLM-4.5/4.6 prompt (a JSON string).")

    @Option(name: .long, help: "Model folder (tokenizer and template files).")
    var model: String

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("model folder '\(model)' does not exist")
        }
        if let warning = templateWarning(folder: URL(fileURLWithPath: model)) {
            FileHandle.standardError.write(Data("Warning: \(warning)\n".utf8))
        }
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let request: JSONValue
        do {
            request = try JSONValue.parse(input)
        } catch let error as JSONParseError {
            throw CommandInputError("request body: \(error)")
        }
        // A ChatRequestError propagates: ArgumentParser prints it as `Error: …` and exits with 1, as for every command.
        let prompt = try GLMChatFormat.render(request: request)
        print(JSONValue.string(prompt.text).serialized())
    }

    /// A warning when the folder's template is not a known GLM-4.5/4.6 text (that format is rendered natively).
    private func templateWarning(folder: URL) -> String? {
        var template: String? = nil
        if let data = try? Data(contentsOf: folder.appendingPathComponent("chat_template.jinja")) {
            template = String(decoding: data, as: UTF8.self)
        } else if let data = try? Data(contentsOf: folder.appendingPathComponent("tokenizer_config.json")) {
            template = (try? JSONValue.parse(data))?["chat_template"]?.string
        }
        guard let template else { return "no chat template found in the model folder; rendering the GLM-4.5/4.6 format" }
        if GLMTemplateFingerprint.identify(template) != nil { return nil }
        if template.contains("clear_thinking") {
            return "the model's chat template looks like GLM-4.7's; rendering the GLM-4.5/4.6 format anyway"
        }
        return "the model's chat template is not a known GLM-4.5/4.6 text (sha256 differs); rendering that format anyway"
    }
}
