import CKernels
import CNuma
import Foundation
import XCTest
@testable import Engine

/// NUMA planning on pretend machines (this VM has one node), and the real effects that one node still shows:
/// the topology read, the memory policy set and restored around population, pinned pool threads, exact logits.
final class NUMATests: XCTestCase {
    // MARK: planning on simulated topologies

    func testDistributeOverTwoNodesAlternatesNodes() throws {
        let plan = try NUMAPolicy.distribute.plan(for: .simulated(nodes: 2, cpusPerNode: 4), threads: 8)
        XCTAssertEqual(plan.threadCPUs, [0, 4, 1, 5, 2, 6, 3, 7])
        XCTAssertEqual(plan.threadNodes, [0, 1, 0, 1, 0, 1, 0, 1])
        XCTAssertEqual(plan.threadsPerNode, [0: 4, 1: 4])
        XCTAssertEqual(plan.memory, .interleave(nodes: [0, 1]))
        XCTAssertTrue(plan.isActive)
    }

    func testDistributeInterleavesOnlyOverTheNodesInUse() throws {
        let topology = NUMATopology.simulated(nodes: 4, cpusPerNode: 8)
        let two = try NUMAPolicy.distribute.plan(for: topology, threads: 2)
        XCTAssertEqual(two.threadCPUs, [0, 8])
        XCTAssertEqual(two.memory, .interleave(nodes: [0, 1]))
        let all = try NUMAPolicy.distribute.plan(for: topology, threads: 32)
        XCTAssertEqual(all.threadsPerNode, [0: 8, 1: 8, 2: 8, 3: 8])
        XCTAssertEqual(Set(all.threadCPUs), Set(0 ..< 32), "every CPU gets exactly one thread")
        XCTAssertEqual(all.memory, .interleave(nodes: [0, 1, 2, 3]))
    }

    func testUnevenNodesFillEveryCPUBeforeDoublingUp() throws {
        let topology = NUMATopology.simulated(cpusPerNode: [4, 2])   // node 0: CPUs 0-3, node 1: CPUs 4-5
        let six = try NUMAPolicy.distribute.plan(for: topology, threads: 6)
        XCTAssertEqual(six.threadCPUs, [0, 4, 1, 5, 2, 3])
        XCTAssertEqual(six.threadsPerNode, [0: 4, 1: 2])
        let seven = try NUMAPolicy.distribute.plan(for: topology, threads: 7)
        XCTAssertEqual(seven.threadCPUs.last, 0, "the seventh thread wraps around to the first CPU")
    }

    func testMoreThreadsThanCPUsShareCPUsEvenly() throws {
        let plan = try NUMAPolicy.distribute.plan(for: .simulated(nodes: 2, cpusPerNode: 2), threads: 10)
        XCTAssertEqual(plan.threadCPUs, [0, 2, 1, 3, 0, 2, 1, 3, 0, 2])
        let perCPU = plan.threadCPUs.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
        XCTAssertLessThanOrEqual(perCPU.values.max()! - perCPU.values.min()!, 1)
    }

    func testIsolateKeepsThreadsAndMemoryOnOneNode() throws {
        let plan = try NUMAPolicy.isolate(node: 1).plan(for: .simulated(nodes: 2, cpusPerNode: 4), threads: 6)
        XCTAssertEqual(plan.threadCPUs, [4, 5, 6, 7, 4, 5])
        XCTAssertEqual(plan.threadsPerNode, [1: 6])
        XCTAssertEqual(plan.memory, .preferred(node: 1))
    }

    func testIsolatingAMissingNodeIsAClearError() {
        XCTAssertThrowsError(try NUMAPolicy.isolate(node: 5).plan(for: .simulated(nodes: 2, cpusPerNode: 4), threads: 4)) {
            XCTAssertEqual($0 as? NUMAError, .noSuchNode(5, available: [0, 1]))
            XCTAssertEqual("\($0)", "NUMA node 5 does not exist; this machine has node(s) 0, 1")
        }
    }

    func testMemoryOnlyNodesGetNoThreads() throws {
        let topology = NUMATopology(nodes: [.init(id: 0, cpus: [0, 1]), .init(id: 1, cpus: [])], source: "simulated")
        XCTAssertThrowsError(try NUMAPolicy.isolate(node: 1).plan(for: topology, threads: 2)) {
            XCTAssertEqual($0 as? NUMAError, .noCPUs(node: 1))
        }
        let plan = try NUMAPolicy.distribute.plan(for: topology, threads: 3)
        XCTAssertEqual(plan.threadCPUs, [0, 1, 0])
        XCTAssertEqual(plan.memory, .interleave(nodes: [0]))
        XCTAssertEqual(NUMAPolicy.automatic(for: topology), .disabled, "one node with CPUs: nothing to spread")
    }

    /// A CPU-only node runs threads but holds no pages: interleave skips it; isolating it leaves memory alone.
    func testCPUOnlyNodesHoldNoPages() throws {
        let topology = NUMATopology(nodes: [.init(id: 0, cpus: [0, 1]), .init(id: 1, cpus: [2, 3], hasMemory: false),
                                            .init(id: 2, cpus: [], hasMemory: true)], source: "simulated")
        let both = try NUMAPolicy.distribute.plan(for: topology, threads: 4)
        XCTAssertEqual(both.threadCPUs, [0, 2, 1, 3])
        XCTAssertEqual(both.memory, .interleave(nodes: [0]))
        let isolated = try NUMAPolicy.isolate(node: 1).plan(for: topology, threads: 2)
        XCTAssertEqual(isolated.threadCPUs, [2, 3])
        XCTAssertEqual(isolated.memory, .unchanged)
        let cpuOnly = NUMATopology(nodes: [.init(id: 0, cpus: [0], hasMemory: false), .init(id: 1, cpus: [])],
                                   source: "simulated")
        XCTAssertEqual(try NUMAPolicy.distribute.plan(for: cpuOnly, threads: 1).memory, .interleave(nodes: [1]),
                       "no used node has memory: spread over the nodes that do")
    }

    func testAutomaticPolicyAndDisabledPlan() throws {
        XCTAssertEqual(NUMAPolicy.automatic(for: .simulated(nodes: 1, cpusPerNode: 8)), .disabled)
        XCTAssertEqual(NUMAPolicy.automatic(for: .simulated(nodes: 2, cpusPerNode: 8)), .distribute)
        let plan = try NUMAPolicy.disabled.plan(for: .simulated(nodes: 2, cpusPerNode: 8), threads: 4)
        XCTAssertFalse(plan.isActive)
        XCTAssertThrowsError(try NUMAPolicy.distribute.plan(for: .simulated(nodes: 2, cpusPerNode: 2), threads: 0)) {
            XCTAssertEqual($0 as? NUMAError, .invalidThreadCount(0))
        }
        XCTAssertThrowsError(try NUMAPolicy.distribute.plan(for: .simulated(nodes: 0, cpusPerNode: 2), threads: 1)) {
            XCTAssertEqual($0 as? NUMAError, .noCPUs(node: nil))
        }
    }

    func testCPUListParsing() {
        XCTAssertEqual(NUMATopology.parseCPUList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(NUMATopology.parseCPUList("\n"), [])
        XCTAssertNil(NUMATopology.parseCPUList("3-1"))
        XCTAssertNil(NUMATopology.parseCPUList("0-"))
        XCTAssertNil(NUMATopology.parseCPUList("a,b"))
    }

    // MARK: this machine

    /// libnuma's view matches the kernel's files: nodes that /sys lists (all of them unless a cpuset hides some),
    /// together exactly the CPUs this process may run on (on the project's VM: one node with both CPUs).
    func testRealTopologyMatchesTheKernel() throws {
        let topology = NUMATopology.current()
        let sysfs = try XCTUnwrap(NUMATopology.fromSysfs(), "no /sys/devices/system/node")
        XCTAssertTrue(Set(topology.nodeIDs).isSubset(of: sysfs.nodeIDs), "\(topology.nodeIDs) vs \(sysfs.nodeIDs)")
        XCTAssertTrue(topology.nodes.contains { $0.hasMemory })
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let allowed = try XCTUnwrap(NUMATopology.parseCPUList(String(line.dropFirst("Cpus_allowed_list:".count))))
        XCTAssertEqual(topology.nodes.flatMap(\.cpus).sorted(), allowed)
        XCTAssertTrue(topology.nodeIDs.contains(NUMATopology.currentNode()))
    }

    /// While the weights are populated the thread interleaves (or prefers a node); afterwards its old policy is back.
    func testMemoryPolicyIsSetDuringPopulationAndRestored() throws {
        let before = try XCTUnwrap(NUMAPlacement.memoryPolicy(), "get_mempolicy failed")
        let node = NUMATopology.currentNode()
        let topology = NUMATopology.current()
        for (policy, mode) in [(NUMAPolicy.distribute, MPOL_INTERLEAVE), (.isolate(node: node), MPOL_PREFERRED)] {
            let placement = NUMAPlacement(topology: topology, plan: try policy.plan(for: topology, threads: 1))
            let inside = placement.whilePopulating { NUMAPlacement.memoryPolicy() }
            XCTAssertEqual(inside?.mode, mode, "\(policy)")
            XCTAssertEqual(inside.map { $0.mask[node / UInt.bitWidth] >> UInt(node % UInt.bitWidth) & 1 }, 1, "\(policy)")
            let after = try XCTUnwrap(NUMAPlacement.memoryPolicy())
            XCTAssertEqual(after.mode, before.mode, "\(policy)")
            XCTAssertEqual(after.mask, before.mask, "\(policy)")
        }
    }

    func testPinningRefusesUnknownWorkers() {
        ck_pool_start(0)
        XCTAssertEqual(ck_pool_set_affinity(0, 0), EINVAL, "thread 0 is the caller, never pinned")
        XCTAssertEqual(ck_pool_set_affinity(ck_pool_threads(), 0), EINVAL)
    }

    /// A pinned pool thread runs its chunks on its CPU only.
    func testPinnedWorkerRunsOnItsCPU() throws {
        ck_pool_start(0)
        guard ck_pool_threads() >= 2 else { throw XCTSkip("the pool has one thread on this machine") }
        let target = try XCTUnwrap(NUMATopology.current().nodes.flatMap(\.cpus).last)
        XCTAssertEqual(ck_pool_set_affinity(1, Int32(target)), 0)
        defer { _ = ck_pool_set_affinity(1, -1) }
        var seen: [Int32] = []
        for _ in 0 ..< 5 where seen.isEmpty {
            seen = Self.cpusOfWorker(1, chunks: 2000)
        }
        XCTAssertFalse(seen.isEmpty, "worker 1 never ran a chunk")
        XCTAssertEqual(Set(seen), [Int32(target)])
    }

    /// Runs `chunks` small busy chunks on the pool and returns the CPUs `worker` ran its chunks on.
    private static func cpusOfWorker(_ worker: Int32, chunks: Int) -> [Int32] {
        var records = [Int32](repeating: -1, count: 2 * chunks)     // (thread, cpu) per chunk
        records.withUnsafeMutableBufferPointer { buffer in
            ck_parallel_for(Int64(chunks), { context, chunk, thread in
                let slots = context!.assumingMemoryBound(to: Int32.self)
                var x: UInt64 = UInt64(chunk)
                for _ in 0 ..< 20_000 { x = x &* 6364136223846793005 &+ 1 }   // a few µs of work
                slots[2 * Int(chunk)] = x == 42 ? -2 : thread
                slots[2 * Int(chunk) + 1] = cnuma_current_cpu()
            }, buffer.baseAddress)
        }
        return stride(from: 0, to: records.count, by: 2).filter { records[$0] == worker }.map { records[$0 + 1] }
    }

    /// `.distribute` forced on this machine (interleaved population, pinned workers) changes no logit.
    func testDistributedLoadGivesIdenticalLogits() throws {
        let tokens: [Int32] = [3, 17, 42, 99, 5, 250]
        let plain = try Fixtures.model("tiny-bf16")
        let expected = try plain.forward(tokens, cache: plain.makeCache(capacity: 16), logits: .all)
        let before = NUMAPlacement.memoryPolicy()
        let placed = try GLMModel.load(from: Fixtures.directory("tiny-bf16"), numa: .distribute, numerics: .exact)
        defer { for worker in 1 ..< ck_pool_threads() { _ = ck_pool_set_affinity(worker, -1) } }
        XCTAssertEqual(NUMAPlacement.memoryPolicy()?.mode, before?.mode, "memory policy restored after loading")
        let logits = try placed.forward(tokens, cache: placed.makeCache(capacity: 16), logits: .all)
        XCTAssertEqual(logits.count, expected.count)
        XCTAssertEqual(logits, expected)
    }

    func testIsolatingAMissingNodeFailsTheLoad() {
        XCTAssertThrowsError(try GLMModel.load(from: Fixtures.directory("tiny-bf16"), numa: .isolate(node: 4096))) {
            XCTAssertEqual($0 as? NUMAError, .noSuchNode(4096, available: NUMATopology.current().nodeIDs))
        }
    }
}
