import Foundation

/// A model folder's weights: sharded through `model.safetensors.index.json`, or a single `model.safetensors`.
///
/// The index is the only source of truth for which file holds a tensor (GLM-4.6 keeps its MTP layer in
/// `mtp.safetensors`, named only there). Every shard is mapped once; every tensor the index names is checked
/// to exist in its file when the checkpoint opens.
public final class Checkpoint: @unchecked Sendable {
    public let directory: URL
    /// The mapped files, sorted by name.
    public let files: [SafeTensorsFile]
    /// Every tensor name, sorted.
    public let tensorNames: [String]
    /// Total bytes of tensor data of every tensor in the checkpoint.
    public let totalBytes: Int
    private let location: [String: SafeTensorsFile]
    /// Where tensors are listed: the index, or the single file.
    private let listing: String

    /// Opens the folder's index (or single file), maps every file it names and checks that each listed tensor
    /// is in its file. `populate` pre-faults the mappings (`MAP_POPULATE`): slower to open, no page faults later.
    public init(directory: URL, populate: Bool = false) throws {
        self.directory = directory
        let indexURL = directory.appendingPathComponent(CheckpointIndex.fileName)
        let singleURL = directory.appendingPathComponent("model.safetensors")
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SafeTensorsError(file: directory.lastPathComponent, problem: "model folder does not exist or is not a folder")
        }

        if manager.fileExists(atPath: indexURL.path) {
            let index = try CheckpointIndex(url: indexURL)
            var opened: [String: SafeTensorsFile] = [:]
            for fileName in Set(index.weightMap.values).sorted() {
                let url = directory.appendingPathComponent(fileName)
                guard manager.fileExists(atPath: url.path) else {
                    let example = index.weightMap.filter { $0.value == fileName }.keys.sorted().first
                    throw SafeTensorsError(file: CheckpointIndex.fileName, tensor: example,
                                           problem: "names file '\(fileName)', which is missing from the model folder")
                }
                opened[fileName] = try SafeTensorsFile(url: url, populate: populate)
            }
            var location: [String: SafeTensorsFile] = [:]
            for (tensor, fileName) in index.weightMap {
                guard let file = opened[fileName] else { continue }
                guard file.contains(tensor) else {
                    throw SafeTensorsError(file: fileName, tensor: tensor,
                                           problem: "listed in \(CheckpointIndex.fileName) but absent from this file")
                }
                location[tensor] = file
            }
            files = opened.keys.sorted().compactMap { opened[$0] }
            self.location = location
            listing = CheckpointIndex.fileName
        } else if manager.fileExists(atPath: singleURL.path) {
            let file = try SafeTensorsFile(url: singleURL, populate: populate)
            files = [file]
            var location: [String: SafeTensorsFile] = [:]
            for tensor in file.tensorNames { location[tensor] = file }
            self.location = location
            listing = file.name
        } else {
            throw SafeTensorsError(file: directory.lastPathComponent,
                                   problem: "neither \(CheckpointIndex.fileName) nor model.safetensors found in the model folder")
        }
        tensorNames = location.keys.sorted()
        totalBytes = location.reduce(0) { total, item in total + item.value.byteCount(of: item.key) }
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    /// The named tensor; the error names the file (or the index) and the tensor.
    public func tensor(named name: String) throws -> TensorView {
        guard let file = location[name] else {
            throw SafeTensorsError(file: listing, tensor: name, problem: "missing from the checkpoint")
        }
        return try file.tensor(named: name)
    }

    /// The named tensor after checking its shape and, if `dtype` is given, that its dtype is one of them.
    public func tensor(named name: String, dtype: Set<DType>? = nil, shape: [Int]) throws -> TensorView {
        let view = try tensor(named: name)
        if let dtype, !dtype.contains(view.dtype) {
            let allowed = dtype.map(\.rawValue).sorted().joined(separator: " or ")
            throw SafeTensorsError(file: view.file, tensor: name,
                                   problem: "dtype \(view.dtype.rawValue), expected \(allowed)")
        }
        guard view.shape == shape else {
            throw SafeTensorsError(file: view.file, tensor: name,
                                   problem: "shape \(view.shape), expected \(shape) from config.json")
        }
        return view
    }

    /// The name of the file holding `name`, if the checkpoint has it.
    public func fileName(of name: String) -> String? { location[name]?.name }
}
