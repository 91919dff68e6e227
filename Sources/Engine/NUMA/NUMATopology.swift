import CNuma
import Foundation

/// The machine's NUMA nodes and the CPUs of each that this process may run on.
public struct NUMATopology: Equatable, Sendable {
    /// One node: its CPUs (ascending; only CPUs the process is allowed to use) and whether the process may place
    /// memory there (false for CPU-only nodes and nodes outside the cpuset's `mems`).
    public struct Node: Equatable, Sendable {
        public let id: Int
        public let cpus: [Int]
        public let hasMemory: Bool
        public init(id: Int, cpus: [Int], hasMemory: Bool = true) {
            self.id = id
            self.cpus = cpus
            self.hasMemory = hasMemory
        }
    }

    /// Nodes in ascending id order. Nodes without usable CPUs (memory-only nodes) are kept: memory can be placed
    /// there, but no thread runs there; CPU-only nodes run threads whose memory lives elsewhere.
    public let nodes: [Node]
    /// Where the topology came from: "libnuma", "sysfs", "simulated" or "single" (no NUMA information at all).
    public let source: String

    public init(nodes: [Node], source: String) {
        self.nodes = nodes.sorted { $0.id < $1.id }
        self.source = source
    }

    public var nodeIDs: [Int] { nodes.map(\.id) }
    public var cpuCount: Int { nodes.reduce(0) { $0 + $1.cpus.count } }
    public func node(_ id: Int) -> Node? { nodes.first { $0.id == id } }

    /// A pretend machine for planning tests: nodes 0 ..< `nodes`, node n owning CPUs n·M ..< (n+1)·M.
    public static func simulated(nodes: Int, cpusPerNode: Int) -> NUMATopology {
        simulated(cpusPerNode: Array(repeating: cpusPerNode, count: max(nodes, 0)))
    }

    /// A pretend machine with `cpusPerNode[n]` CPUs on node n, numbered consecutively.
    public static func simulated(cpusPerNode: [Int]) -> NUMATopology {
        var next = 0
        var nodes: [Node] = []
        for (id, count) in cpusPerNode.enumerated() {
            let n = max(count, 0)
            nodes.append(Node(id: id, cpus: Array(next ..< next + n)))
            next += n
        }
        return NUMATopology(nodes: nodes, source: "simulated")
    }

    /// This machine: libnuma when the kernel supports NUMA, else /sys/devices/system/node, else one node with
    /// every online CPU.
    public static func current() -> NUMATopology {
        fromLibNUMA() ?? fromSysfs() ?? single()
    }

    /// The node of the CPU the calling thread runs on now (0 when unknown).
    public static func currentNode() -> Int {
        let cpu = cnuma_current_cpu()
        guard cpu >= 0, numa_available() >= 0 else { return 0 }
        return max(Int(numa_node_of_cpu(cpu)), 0)
    }

    static func fromLibNUMA() -> NUMATopology? {
        guard numa_available() >= 0 else { return nil }
        let maxNode = Int(numa_max_node())
        let possibleCPUs = Int(numa_num_possible_cpus())
        guard maxNode >= 0, possibleCPUs > 0, let mask = numa_allocate_cpumask() else { return nil }
        defer { numa_bitmask_free(mask) }
        let allowed = numa_all_cpus_ptr
        var nodes: [Node] = []
        for id in 0 ... maxNode {
            let hasMemory = numa_all_nodes_ptr.map { numa_bitmask_isbitset($0, UInt32(id)) != 0 } ?? true
            guard numa_node_to_cpus(Int32(id), mask) == 0 else { continue }
            let cpus = (0 ..< possibleCPUs).filter { cpu in
                numa_bitmask_isbitset(mask, UInt32(cpu)) != 0
                    && (allowed.map { numa_bitmask_isbitset($0, UInt32(cpu)) != 0 } ?? true)
            }
            if hasMemory || !cpus.isEmpty { nodes.append(Node(id: id, cpus: cpus, hasMemory: hasMemory)) }
        }
        return nodes.isEmpty ? nil : NUMATopology(nodes: nodes, source: "libnuma")
    }

    static func fromSysfs(root: URL = URL(fileURLWithPath: "/sys/devices/system/node")) -> NUMATopology? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return nil }
        let memoryNodes = (try? String(contentsOf: root.appendingPathComponent("has_memory"), encoding: .utf8))
            .flatMap(parseCPUList).map(Set.init)
        var nodes: [Node] = []
        for entry in entries where entry.hasPrefix("node") {
            guard let id = Int(entry.dropFirst(4)),
                  let text = try? String(contentsOf: root.appendingPathComponent(entry).appendingPathComponent("cpulist"),
                                         encoding: .utf8),
                  let cpus = parseCPUList(text) else { continue }
            nodes.append(Node(id: id, cpus: cpus, hasMemory: memoryNodes?.contains(id) ?? true))
        }
        return nodes.isEmpty ? nil : NUMATopology(nodes: nodes, source: "sysfs")
    }

    static func single() -> NUMATopology {
        let online = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
        return NUMATopology(nodes: [Node(id: 0, cpus: Array(0 ..< online))], source: "single")
    }

    /// Parses a kernel CPU (or node) list such as "0-3,8,10-11" (empty text: none). Nil when malformed.
    public static func parseCPUList(_ text: String) -> [Int]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return [] }
        var cpus: [Int] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), low >= 0 else { return nil }
            let high = bounds.count == 2 ? Int(bounds[1]) : low
            guard let high, high >= low else { return nil }
            cpus += low ... high
        }
        return Array(Set(cpus)).sorted()
    }
}
