import ArgumentParser
import Engine

/// `--numa distribute|isolate[:N]|disabled`, shared by the commands that load a model.
struct NUMAOption: ParsableArguments {
    @Option(name: .customLong("numa"), help: ArgumentHelp(
        "NUMA placement: distribute (threads round-robin over the nodes, weights interleaved), isolate[:N] "
            + "(threads and weights on node N, default the node this starts on), disabled. "
            + "Default: distribute when the machine has several nodes.",
        valueName: "policy"))
    var choice: NUMAChoice?

    /// The policy asked for; nil lets the engine choose (`NUMAPolicy.automatic`).
    var policy: NUMAPolicy? { choice?.policy }
}

struct NUMAChoice: ExpressibleByArgument {
    let policy: NUMAPolicy

    init?(argument: String) {
        switch argument {
        case "distribute": policy = .distribute
        case "disabled": policy = .disabled
        case "isolate": policy = .isolate(node: NUMATopology.currentNode())
        default:
            guard argument.hasPrefix("isolate:"), let node = Int(argument.dropFirst("isolate:".count)), node >= 0 else {
                return nil
            }
            policy = .isolate(node: node)
        }
    }

    static var allValueStrings: [String] { ["distribute", "isolate", "isolate:N", "disabled"] }
}
