/// Where the engine's threads run and where the weights' pages live on a machine with several NUMA nodes
/// (the meanings of llama.cpp's `--numa`).
public enum NUMAPolicy: Equatable, Sendable, CustomStringConvertible {
    /// Leave threads and memory to the kernel.
    case disabled
    /// Spread the pool's threads over the nodes, round-robin, and interleave the weights' pages over the nodes in
    /// use, so every node's memory controller serves part of each decode step.
    case distribute
    /// Keep every thread on one node and place the weights there (while that node has free memory).
    case isolate(node: Int)

    /// `.distribute` when the machine has more than one node with CPUs, else `.disabled`.
    public static func automatic(for topology: NUMATopology) -> NUMAPolicy {
        topology.nodes.filter { !$0.cpus.isEmpty }.count > 1 ? .distribute : .disabled
    }

    public var description: String {
        switch self {
        case .disabled: return "disabled"
        case .distribute: return "distribute"
        case .isolate(let node): return "isolate (node \(node))"
        }
    }

    /// Which CPU each pool thread gets and how weight pages are placed, for `threads` threads on `topology`.
    /// Pure: reads nothing but its arguments.
    public func plan(for topology: NUMATopology, threads: Int) throws -> NUMAPlan {
        guard threads >= 1 else { throw NUMAError.invalidThreadCount(threads) }
        switch self {
        case .disabled:
            return NUMAPlan(policy: self, threadCPUs: [], threadNodes: [], memory: .unchanged)
        case .distribute:
            let order = Self.roundRobinCPUs(topology)
            guard !order.isEmpty else { throw NUMAError.noCPUs(node: nil) }
            let assigned = (0 ..< threads).map { order[$0 % order.count] }
            // Interleave over the nodes the threads use; CPU-only nodes hold no pages, and if every used node is
            // CPU-only the pages go over all nodes that have memory.
            let used = Set(assigned.map(\.node))
            let withMemory = topology.nodes.filter(\.hasMemory).map(\.id)
            let local = withMemory.filter(used.contains)
            let spread = local.isEmpty ? withMemory : local
            return NUMAPlan(policy: self, threadCPUs: assigned.map(\.cpu), threadNodes: assigned.map(\.node),
                            memory: spread.isEmpty ? .unchanged : .interleave(nodes: spread))
        case .isolate(let id):
            guard let node = topology.node(id) else {
                throw NUMAError.noSuchNode(id, available: topology.nodeIDs)
            }
            guard !node.cpus.isEmpty else { throw NUMAError.noCPUs(node: id) }
            return NUMAPlan(policy: self, threadCPUs: (0 ..< threads).map { node.cpus[$0 % node.cpus.count] },
                            threadNodes: Array(repeating: id, count: threads),
                            memory: node.hasMemory ? .preferred(node: id) : .unchanged)
        }
    }

    /// Every usable CPU once, taking one from each node in turn (node 0's first, node 1's first, …, node 0's
    /// second, …); nodes that run out are skipped. Thread i takes entry i mod count: with uneven nodes no node
    /// gets a second thread on a CPU while another CPU is idle.
    static func roundRobinCPUs(_ topology: NUMATopology) -> [(node: Int, cpu: Int)] {
        let deepest = topology.nodes.map(\.cpus.count).max() ?? 0
        var order: [(node: Int, cpu: Int)] = []
        for round in 0 ..< deepest {
            for node in topology.nodes where round < node.cpus.count {
                order.append((node.id, node.cpus[round]))
            }
        }
        return order
    }
}

/// The result of planning: thread i of the pool runs on `threadCPUs[i]` (on node `threadNodes[i]`); thread 0 is
/// the thread that submits work (it is not pinned, its CPU is left for it); `memory` applies while the weights are
/// faulted in.
public struct NUMAPlan: Equatable, Sendable {
    public enum MemoryPlacement: Equatable, Sendable {
        case unchanged
        /// Pages go round-robin over these nodes (`MPOL_INTERLEAVE`).
        case interleave(nodes: [Int])
        /// Pages go to this node while it has room, elsewhere after (`MPOL_PREFERRED`).
        case preferred(node: Int)
    }

    public let policy: NUMAPolicy
    public let threadCPUs: [Int]
    public let threadNodes: [Int]
    public let memory: MemoryPlacement

    /// Whether the plan changes anything.
    public var isActive: Bool { !threadCPUs.isEmpty || memory != .unchanged }

    /// Pool threads per node, by node id.
    public var threadsPerNode: [Int: Int] { threadNodes.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    /// One line for the load log.
    public func summary(topology: NUMATopology) -> String {
        let perNode = threadsPerNode.sorted { $0.key < $1.key }.map { "node \($0.key): \($0.value)" }
            .joined(separator: ", ")
        let memoryText: String
        switch memory {
        case .unchanged: memoryText = "weights placed by the kernel"
        case .interleave(let nodes): memoryText = "weights interleaved over nodes " + nodes.map(String.init).joined(separator: ",")
        case .preferred(let node): memoryText = "weights on node \(node)"
        }
        return "NUMA: \(topology.nodes.count) node(s) (\(topology.source)), policy \(policy), "
            + "\(threadCPUs.count) threads (\(perNode)), \(memoryText)"
    }
}

/// A NUMA request the machine cannot satisfy.
public enum NUMAError: Error, Equatable, CustomStringConvertible {
    case noSuchNode(Int, available: [Int])
    /// The node (or, for nil, the whole machine) has no CPU this process may use.
    case noCPUs(node: Int?)
    case invalidThreadCount(Int)
    /// The kernel refused a memory policy or a thread's CPU (errno text).
    case systemCall(String)

    public var description: String {
        switch self {
        case .noSuchNode(let node, let available):
            return "NUMA node \(node) does not exist; this machine has node(s) "
                + available.map(String.init).joined(separator: ", ")
        case .noCPUs(let node?): return "NUMA node \(node) has no CPU this process may run on"
        case .noCPUs(nil): return "no CPU found to run the engine's threads on"
        case .invalidThreadCount(let n): return "thread count must be at least 1, got \(n)"
        case .systemCall(let text): return "NUMA placement failed: \(text)"
        }
    }
}
