import CKernels
import CNuma
import Foundation

/// Carries out a `NUMAPlan` in this process: the calling thread's memory policy while the weights are faulted in,
/// and the pool threads' CPUs. Placement only speeds things up, so a refusal from the kernel is a warning.
struct NUMAPlacement {
    let topology: NUMATopology
    let plan: NUMAPlan

    /// Plans `policy` (nil: `.automatic`) on this machine and starts the engine's pool with the plan's thread count
    /// (`threads`, else one per CPU, or per CPU of the node for `.isolate`). Nil when the policy does nothing;
    /// throws when it cannot be met (a node that does not exist).
    static func prepare(_ policy: NUMAPolicy?, threads: Int?) throws -> NUMAPlacement? {
        let topology = NUMATopology.current()
        let chosen = policy ?? .automatic(for: topology)
        guard chosen != .disabled else { return nil }
        var wanted = threads
        if wanted == nil, case .isolate(let id) = chosen { wanted = topology.node(id)?.cpus.count }
        _ = try chosen.plan(for: topology, threads: max(wanted ?? topology.cpuCount, 1))   // refuse before starting
        ck_pool_start(Int32(wanted ?? 0))
        let plan = try chosen.plan(for: topology, threads: Int(ck_pool_threads()))
        return NUMAPlacement(topology: topology, plan: plan)
    }

    /// Runs `body` (which faults the weights in) under the plan's memory policy, then restores the thread's
    /// previous policy. Pages already in the page cache stay where they are.
    func whilePopulating<T>(_ body: () throws -> T) rethrows -> T {
        let saved = Self.memoryPolicy()
        var applied = false
        switch plan.memory {
        case .unchanged: break
        case .interleave(let nodes): applied = Self.setMemoryPolicy(mode: MPOL_INTERLEAVE, nodes: nodes)
        case .preferred(let node): applied = Self.setMemoryPolicy(mode: MPOL_PREFERRED, nodes: [node])
        }
        defer {
            if applied, let saved, !Self.setMemoryPolicy(mode: saved.mode, mask: saved.mask) {
                Self.warn("could not restore the thread's memory policy")
            }
        }
        return try body()
    }

    /// Pins pool threads 1 ..< threads to their planned CPUs (thread 0 is whoever submits work).
    func pinWorkers() {
        let count = min(plan.threadCPUs.count, Int(ck_pool_threads()))
        var refused: [String] = []
        for worker in 1 ..< max(count, 1) {
            let result = ck_pool_set_affinity(Int32(worker), Int32(plan.threadCPUs[worker]))
            if result != 0 { refused.append("thread \(worker) → CPU \(plan.threadCPUs[worker]): \(String(cString: strerror(result)))") }
        }
        if !refused.isEmpty { Self.warn("could not pin " + refused.joined(separator: "; ")) }
    }

    func log() {
        FileHandle.standardError.write(Data((plan.summary(topology: topology) + "\n").utf8))
    }

    // MARK: the calling thread's memory policy (get_mempolicy / set_mempolicy)

    /// Node-mask words handed to the kernel: room for 1024 nodes, the largest MAX_NUMNODES Linux builds with.
    private static let maskWords = 16

    /// The calling thread's policy mode (with its flags) and node mask, nil if the kernel has no NUMA support.
    static func memoryPolicy() -> (mode: Int32, mask: [UInt])? {
        var mode: Int32 = 0
        var mask = [UInt](repeating: 0, count: maskWords)
        let result = mask.withUnsafeMutableBufferPointer {
            get_mempolicy(&mode, $0.baseAddress, UInt(maskWords * UInt.bitWidth), nil, 0)
        }
        return result == 0 ? (mode, mask) : nil
    }

    static func setMemoryPolicy(mode: Int32, nodes: [Int]) -> Bool {
        var mask = [UInt](repeating: 0, count: maskWords)
        for node in nodes where node >= 0 && node < maskWords * UInt.bitWidth {
            mask[node / UInt.bitWidth] |= 1 << UInt(node % UInt.bitWidth)
        }
        guard setMemoryPolicy(mode: mode, mask: mask) else {
            warn("set_mempolicy(\(mode), nodes \(nodes)) failed: \(String(cString: strerror(errno)))")
            return false
        }
        return true
    }

    static func setMemoryPolicy(mode: Int32, mask: [UInt]) -> Bool {
        // The kernel counts one bit fewer than `maxnode` (a historical off-by-one libnuma also pays), hence + 1.
        let modeOnly = mode & 0xff     // without MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, …
        let result = mask.withUnsafeBufferPointer { words in
            set_mempolicy(mode, modeOnly == MPOL_DEFAULT ? nil : words.baseAddress,
                          modeOnly == MPOL_DEFAULT ? 0 : UInt(words.count * UInt.bitWidth + 1))
        }
        return result == 0
    }

    private static func warn(_ text: String) {
        FileHandle.standardError.write(Data("warning: NUMA: \(text)\n".utf8))
    }
}
