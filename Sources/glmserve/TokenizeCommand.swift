import ArgumentParser
import Foundation
import Tokenizer

/// `glmserve tokenize --model DIR`: text on stdin → the ids as a JSON array (added tokens matched).
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Read text on stdin and print its token ids as a JSON array.")

    @Option(name: .long, help: "A model folder with tokenizer.json (and optionally tokenizer_config.json).")
    var model: String

    @Flag(name: .long, help: "Encode special tokens (e.g. <|user|>) as plain text instead of matching them.")
    var specialTokensAsText = false

    @Flag(name: .long, help: "Report load time and encoding speed on stderr.")
    var timings = false

    func run() throws {
        let loadStart = Clocks.now()
        let tokenizer = try Tokenizer(directory: URL(fileURLWithPath: model))
        let load = Clocks.since(loadStart)
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let text = try CommandInput.text(input)
        let encodeStart = Clocks.now()
        let ids = tokenizer.encode(text, addedTokens: specialTokensAsText ? .nonSpecialOnly : .all)
        let encode = Clocks.since(encodeStart)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
        if timings {
            let megabytes = Double(text.utf8.count) / 1_000_000
            let report = String(
                format: "load %.3f s wall, %.3f s cpu (%d ids); encode %.2f MB -> %d tokens in %.3f s wall, "
                    + "%.3f s cpu = %.2f MB/s wall, %.2f MB/s cpu\n",
                load.wall, load.cpu, tokenizer.vocabularySize, megabytes, ids.count, encode.wall, encode.cpu,
                megabytes / max(encode.wall, 1e-9), megabytes / max(encode.cpu, 1e-9))
            FileHandle.standardError.write(Data(report.utf8))
        }
    }

    /// Wall-clock and CPU time of this thread (the machine may be shared, so both are reported).
    private enum Clocks {
        static func now() -> (wall: Double, cpu: Double) {
            (read(CLOCK_MONOTONIC), read(CLOCK_THREAD_CPUTIME_ID))
        }

        static func since(_ start: (wall: Double, cpu: Double)) -> (wall: Double, cpu: Double) {
            let end = now()
            return (end.wall - start.wall, end.cpu - start.cpu)
        }

        private static func read(_ clock: clockid_t) -> Double {
            var time = timespec()
            clock_gettime(clock, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
    }
}
