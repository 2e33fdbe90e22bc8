import CChecksum

/// The CRC-32 of zip entries and gzip members (ISO 3309, polynomial 0xEDB88320). Computed in
/// C (CChecksum) because the C++ image probe checks PNG chunks with the same function.
public enum CRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        checksum_crc32(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    }
}
