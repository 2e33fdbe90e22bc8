// CRC-32 for both sides of the package: the C++ image probe checks PNG chunks with it, and
// Swift's Compression module checks zip entries and gzip members.
#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320, as zip, gzip and PNG use)
/// of `count` bytes at `data`.
uint32_t checksum_crc32(const uint8_t *data, size_t count);

#ifdef __cplusplus
}
#endif

#endif
