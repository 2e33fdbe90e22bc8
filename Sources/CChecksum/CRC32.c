#include "CChecksum.h"

#include <pthread.h>

static uint32_t table[256];
static pthread_once_t tableOnce = PTHREAD_ONCE_INIT;

/// One entry per byte value: its remainder after eight shift-and-reduce steps.
static void buildTable(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
}

uint32_t checksum_crc32(const uint8_t *data, size_t count) {
    pthread_once(&tableOnce, buildTable);
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < count; i++) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}
