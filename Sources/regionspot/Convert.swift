import ArgumentParser
import Checkpoints
import Foundation

extension RegionSpotCommand {
    /// `regionspot convert`: a PyTorch checkpoint (.pth/.pt, torch.save or TorchScript) to safetensors.
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a PyTorch checkpoint (torch.save or TorchScript) to .safetensors, without Python.",
            discussion: "Nothing in the checkpoint is executed; pickles referencing anything but tensors and containers are refused. "
                + "Without --strip-prefix, a training checkpoint such as detectron2's {'model': state_dict, 'trainer': …, "
                + "'iteration': …} is reduced to its state dict, under the state dict's own keys.")

        @Argument(help: "The checkpoint (.pth, .pt: torch.save zip or legacy stream, or a TorchScript archive).")
        var input: String
        @Argument(help: "The .safetensors file to write.")
        var output: String
        @Option(help: "Keep only keys under this prefix of the file's full dotted keys (e.g. 'model.'), with the prefix removed.")
        var stripPrefix: String?
        @Option(help: "Store floating-point tensors as F16 (true) or F32 (false).")
        var half = false
        @Flag(help: "Store every tensor in the checkpoint's own dtype, bit for bit (overrides --half).")
        var keepDtype = false

        func run() throws {
            let precision: Checkpoint.Precision = keepDtype ? .keep : half ? .float16 : .float32
            let summary = try Checkpoint.convert(URL(fileURLWithPath: input), to: URL(fileURLWithPath: output),
                                                 stripPrefix: stripPrefix, precision: precision)
            let dtypes = summary.storedDTypes.map { "\($0.value) \($0.key.rawValue)" }.sorted().joined(separator: ", ")
            print("wrote \(output): \(summary.tensorCount) tensors (\(dtypes)), \(summary.scalarCount) values")
        }
    }
}
