import Foundation
import Tensors

extension Checkpoint {
    /// How floating-point tensors are stored when converting. Integer and boolean tensors
    /// (`num_batches_tracked`, `position_ids`) always keep their dtype, so they stay exact.
    public enum Precision: String, Sendable, CaseIterable {
        /// F32 (F16/BF16 widen exactly).
        case float32
        /// F16, rounding to nearest even as PyTorch's `.half()` does.
        case float16
        /// Whatever the checkpoint stores, bit for bit.
        case keep
    }

    public struct ConversionSummary: Sendable, Equatable {
        public let tensorCount: Int
        public let scalarCount: Int
        public let storedDTypes: [TensorDType: Int]
    }

    /// Converts a PyTorch checkpoint to a safetensors file. Without `stripPrefix`, a training
    /// checkpoint is reduced to its model's state dict under the state dict's own keys
    /// (`Scope.modelStateDict`: detectron2's `{"model": {"model.to_clip.weight": …}, …}` gives
    /// `model.to_clip.weight`), as `torch.load(f)["model"]` would; with it, the keys are the
    /// file's full dotted keys, and only those under the prefix are kept, prefix removed.
    /// `rename`, when given, names each tensor in the output, or leaves it out (nil).
    @discardableResult
    public static func convert(_ input: URL, to output: URL, stripPrefix: String? = nil, precision: Precision = .float32,
                               metadata: [String: String] = ["format": "pt"],
                               rename: ((String) -> String?)? = nil) throws -> ConversionSummary {
        let stored = try readStored(input, stripPrefix: stripPrefix, scope: stripPrefix == nil ? .modelStateDict : .everything)
        var tensors = stored
        if let rename {
            tensors = [:]
            for (key, tensor) in stored {
                guard let name = rename(key) else { continue }
                guard tensors.updateValue(tensor, forKey: name) == nil else {
                    throw CheckpointError.notACheckpoint(file: input.path, reason: "two tensors would both be stored as \(name)")
                }
            }
        }
        guard !tensors.isEmpty else {
            let scope = stripPrefix.map { " under prefix '\($0)'" } ?? ""
            throw CheckpointError.notACheckpoint(file: input.path, reason: "it holds no tensors\(scope)\(rename == nil ? "" : " that this conversion keeps")")
        }
        var raw: [String: SafeTensors.RawTensor] = [:]
        var dtypes: [TensorDType: Int] = [:]
        for (name, tensor) in tensors {
            let stored: SafeTensors.RawTensor
            switch (precision, tensor.dtype.isFloatingPoint) {
            case (.keep, _), (_, false):
                stored = SafeTensors.RawTensor(dtype: tensor.dtype, shape: tensor.shape, bytes: tensor.bytes)
            case (.float32, true):
                stored = tensor.dtype == .f32
                    ? SafeTensors.RawTensor(dtype: .f32, shape: tensor.shape, bytes: tensor.bytes)
                    : SafeTensors.RawTensor(tensor.floatTensor, as: .f32)
            case (.float16, true):
                stored = tensor.dtype == .f16
                    ? SafeTensors.RawTensor(dtype: .f16, shape: tensor.shape, bytes: tensor.bytes)
                    : SafeTensors.RawTensor(tensor.floatTensor, as: .f16)
            }
            raw[name] = stored
            dtypes[stored.dtype, default: 0] += 1
        }
        do {
            try SafeTensors.write(raw: raw, metadata: metadata, to: output)
        } catch {
            throw CheckpointError.writeFailed(file: output.path, reason: "\(error)")
        }
        return ConversionSummary(tensorCount: raw.count, scalarCount: tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) },
                                 storedDTypes: dtypes)
    }
}
