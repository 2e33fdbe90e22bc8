// Container parsing without decoding: format, dimensions, EXIF orientation, completeness.
//
// OpenCV 4.6 has no header-only API, and its decoders accept truncated files (libjpeg fills
// the missing rows with gray and warns). Walking the container first lets us refuse
// decompression bombs before any pixel buffer exists and truncated files before decoding.
#include "Shim.hpp"

#include <CChecksum.h>

#include <cstdint>
#include <string>

namespace cvision {
namespace {

/// Bounds-checked reads over the input; running past the end means the file is truncated.
struct Bytes {
    const uint8_t *data;
    size_t size;

    bool has(size_t offset, size_t count) const { return offset <= size && count <= size - offset; }
    void need(size_t offset, size_t count, const char *what) const {
        if (!has(offset, count))
            fail(CVISION_TRUNCATED, std::string("the data ends inside the ") + what + " (" + std::to_string(size) +
                                        " bytes in all)");
    }
    uint32_t u16be(size_t o) const { return uint32_t(data[o]) << 8 | data[o + 1]; }
    uint32_t u32be(size_t o) const { return u16be(o) << 16 | u16be(o + 2); }
    uint32_t u16le(size_t o) const { return uint32_t(data[o + 1]) << 8 | data[o]; }
    uint32_t u24le(size_t o) const { return u16le(o) | uint32_t(data[o + 2]) << 16; }
    uint32_t u32le(size_t o) const { return u16le(o) | u16le(o + 2) << 16; }
    bool matches(size_t o, const char *text, size_t count) const {
        return has(o, count) && std::memcmp(data + o, text, count) == 0;
    }
};

std::string at(size_t offset) { return " at byte " + std::to_string(offset); }

/// Orientation tag 0x0112 in IFD0 of a TIFF-structured EXIF block (optionally prefixed "Exif\0\0").
int exifOrientation(const uint8_t *data, size_t size) {
    Bytes b{data, size};
    size_t base = b.matches(0, "Exif\0\0", 6) ? 6 : 0;
    if (!b.has(base, 8)) return 0;
    bool little;
    if (b.matches(base, "II*\0", 4)) little = true;
    else if (b.matches(base, "MM\0*", 4)) little = false;
    else return 0;
    auto u16 = [&](size_t o) { return little ? b.u16le(o) : b.u16be(o); };
    auto u32 = [&](size_t o) { return little ? b.u32le(o) : b.u32be(o); };
    size_t ifd = base + size_t(u32(base + 4));
    if (!b.has(ifd, 2)) return 0;
    uint32_t entries = u16(ifd);
    for (uint32_t i = 0; i < entries; i++) {
        size_t entry = ifd + 2 + size_t(i) * 12;
        if (!b.has(entry, 12)) return 0;
        if (u16(entry) != 0x0112) continue;
        uint32_t type = u16(entry + 2);
        if (type == 3) return int(u16(entry + 8));   // SHORT
        if (type == 4) return int(u32(entry + 8));   // LONG
        return 0;
    }
    return 0;
}

/// Pillow's fallback when EXIF has no orientation: the XMP `tiff:Orientation(="|>)([0-9])`.
int xmpOrientation(const uint8_t *data, size_t size) {
    static const char key[] = "tiff:Orientation";
    const size_t keyLength = sizeof(key) - 1;
    for (size_t i = 0; i + keyLength + 2 < size + 1; i++) {
        if (std::memcmp(data + i, key, keyLength) != 0) continue;
        size_t j = i + keyLength;
        if (j + 1 < size && data[j] == '=' && data[j + 1] == '"') j += 2;
        else if (j < size && data[j] == '>') j += 1;
        else continue;
        if (j < size && data[j] >= '0' && data[j] <= '9') return data[j] - '0';
    }
    return 0;
}

/// Metadata found while walking a container; EXIF wins over XMP as in Pillow's getexif().
struct Metadata {
    const uint8_t *exif = nullptr;
    size_t exifSize = 0;
    const uint8_t *xmp = nullptr;
    size_t xmpSize = 0;

    int orientation() const {
        int value = exif ? exifOrientation(exif, exifSize) : 0;
        if (value == 0 && xmp) value = xmpOrientation(xmp, xmpSize);
        return value >= 1 && value <= 8 ? value : 1;
    }
};

bool isStartOfFrame(uint8_t marker) {
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

/// Walks the JPEG marker segments and entropy-coded scans up to the EOI marker.
Probe probeJPEG(const Bytes &b) {
    Probe result;
    result.header.format = CVISION_FORMAT_JPEG;
    Metadata metadata;
    bool sawFrame = false;
    size_t pos = 2;
    for (;;) {
        // Tolerate garbage and fill bytes before a marker, as libjpeg does.
        while (pos < b.size && b.data[pos] != 0xFF) pos++;
        while (pos < b.size && b.data[pos] == 0xFF) pos++;
        if (pos >= b.size) fail(CVISION_TRUNCATED, "JPEG data ends before the end-of-image marker (FFD9)");
        uint8_t marker = b.data[pos++];
        if (marker == 0xD9) break;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
        if (marker == 0xD8) fail(CVISION_CORRUPT, "JPEG has a second start-of-image marker" + at(pos - 2));
        b.need(pos, 2, "JPEG segment length");
        size_t length = b.u16be(pos);
        if (length < 2) fail(CVISION_CORRUPT, "JPEG segment length below 2" + at(pos));
        b.need(pos, length, "JPEG marker segment");
        const uint8_t *payload = b.data + pos + 2;
        size_t payloadSize = length - 2;
        if (isStartOfFrame(marker) && !sawFrame) {
            if (payloadSize < 6) fail(CVISION_CORRUPT, "JPEG frame header too short" + at(pos));
            sawFrame = true;
            result.header.bit_depth = payload[0];
            result.header.height = int(b.u16be(pos + 3));
            result.header.width = int(b.u16be(pos + 5));
            result.header.channels = payload[5];
            if (result.header.height == 0)
                fail(CVISION_UNSUPPORTED, "JPEG defines its height later in a DNL marker; not supported");
            if (result.header.width == 0) fail(CVISION_CORRUPT, "JPEG frame header has width 0");
            if (marker != 0xC0 && marker != 0xC1 && marker != 0xC2 && marker != 0xC9 && marker != 0xCA)
                fail(CVISION_UNSUPPORTED, "JPEG uses a lossless or hierarchical frame (SOF" +
                                              std::to_string(marker - 0xC0) + "), which the decoder does not support");
        } else if (marker == 0xE1 && metadata.exif == nullptr && payloadSize >= 6 &&
                   std::memcmp(payload, "Exif\0\0", 6) == 0) {
            metadata.exif = payload;
            metadata.exifSize = payloadSize;
        } else if (marker == 0xE1 && metadata.xmp == nullptr && payloadSize >= 29 &&
                   std::memcmp(payload, "http://ns.adobe.com/xap/1.0/\0", 29) == 0) {
            metadata.xmp = payload;
            metadata.xmpSize = payloadSize;
        }
        pos += length;
        if (marker == 0xDA) {
            if (!sawFrame) fail(CVISION_CORRUPT, "JPEG scan starts before any frame header" + at(pos));
            // Entropy-coded data: FF00 is a stuffed byte and FFD0…FFD7 restart markers; any other
            // marker ends the scan.
            for (;;) {
                while (pos < b.size && b.data[pos] != 0xFF) pos++;
                if (pos + 1 >= b.size) fail(CVISION_TRUNCATED, "JPEG data ends inside a scan, before the end-of-image marker (FFD9)");
                uint8_t next = b.data[pos + 1];
                if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) pos += 2;
                else if (next == 0xFF) pos += 1;
                else break;
            }
        }
    }
    if (!sawFrame) fail(CVISION_CORRUPT, "JPEG has no frame header (SOFn) before its end-of-image marker");
    result.header.orientation = metadata.orientation();
    return result;
}

/// Walks the PNG chunks from IHDR to IEND.
Probe probePNG(const Bytes &b) {
    Probe result;
    result.header.format = CVISION_FORMAT_PNG;
    Metadata metadata;
    b.need(8, 8 + 13 + 4, "PNG header chunk (IHDR)");
    if (!b.matches(12, "IHDR", 4) || b.u32be(8) != 13) fail(CVISION_CORRUPT, "PNG does not start with a 13-byte IHDR chunk");
    uint32_t width = b.u32be(16), height = b.u32be(20);
    int depth = b.data[24], colorType = b.data[25];
    if (width == 0 || height == 0 || width > 0x7FFFFFFF || height > 0x7FFFFFFF)
        fail(CVISION_CORRUPT, "PNG header has invalid dimensions " + std::to_string(width) + "x" + std::to_string(height));
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
    if (colorType > 6 || channels[colorType] == 0 || !(depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16))
        fail(CVISION_CORRUPT, "PNG header has invalid colour type " + std::to_string(colorType) + " with bit depth " +
                                  std::to_string(depth));
    result.header.width = int(width);
    result.header.height = int(height);
    result.header.bit_depth = depth;
    result.header.channels = colorType == 3 ? 3 : channels[colorType];
    result.pngColorType = colorType;
    size_t pos = 8;
    bool sawData = false;
    for (;;) {
        b.need(pos, 8, "PNG chunk header (no IEND chunk)");
        size_t length = b.u32be(pos);
        if (length > 0x7FFFFFFF) fail(CVISION_CORRUPT, "PNG chunk length above 2^31" + at(pos));
        std::string type(reinterpret_cast<const char *>(b.data + pos + 4), 4);
        if (!b.has(pos + 8, length + 4))
            fail(CVISION_TRUNCATED, "PNG data ends inside the " + type + " chunk" + at(pos) + ", before IEND");
        const uint8_t *payload = b.data + pos + 8;
        // libpng would stop on a bad CRC too, but print to stderr; checking here names the chunk.
        if (checksum_crc32(b.data + pos + 4, length + 4) != b.u32be(pos + 8 + length))
            fail(CVISION_CORRUPT, "PNG chunk " + type + at(pos) + " fails its CRC check");
        if (type == "IDAT") sawData = true;
        else if (type == "IEND") break;
        else if (type == "eXIf" && metadata.exif == nullptr) {
            metadata.exif = payload;
            metadata.exifSize = length;
        } else if ((type == "iTXt" || type == "tEXt") && metadata.xmp == nullptr && length >= 18 &&
                   std::memcmp(payload, "XML:com.adobe.xmp\0", 18) == 0) {
            metadata.xmp = payload;
            metadata.xmpSize = length;
        }
        pos += 12 + length;
    }
    if (!sawData) fail(CVISION_CORRUPT, "PNG has no image data (IDAT) before IEND");
    result.header.orientation = metadata.orientation();
    return result;
}

/// Walks the RIFF chunks of a WebP file and reads the bitstream header for the dimensions.
Probe probeWebP(const Bytes &b) {
    Probe result;
    result.header.format = CVISION_FORMAT_WEBP;
    result.header.bit_depth = 8;
    Metadata metadata;
    size_t end = size_t(b.u32le(4)) + 8;
    if (end > b.size)
        fail(CVISION_TRUNCATED, "WebP RIFF header announces " + std::to_string(end) + " bytes but the data has " +
                                    std::to_string(b.size));
    Bytes riff{b.data, end};
    bool sawBitstream = false, extended = false;
    for (size_t pos = 12; pos < end;) {
        riff.need(pos, 8, "WebP chunk header");
        std::string type(reinterpret_cast<const char *>(b.data + pos), 4);
        size_t length = b.u32le(pos + 4);
        size_t payload = pos + 8;
        if (!riff.has(payload, length)) fail(CVISION_TRUNCATED, "WebP data ends inside the '" + type + "' chunk" + at(pos));
        if (pos == 12 && type == "VP8X") {
            if (length < 10) fail(CVISION_CORRUPT, "WebP VP8X chunk too short");
            extended = true;
            if (b.data[payload] & 0x02) fail(CVISION_UNSUPPORTED, "animated WebP is not supported");
            result.header.width = int(b.u24le(payload + 4) + 1);
            result.header.height = int(b.u24le(payload + 7) + 1);
            result.header.channels = (b.data[payload] & 0x10) ? 4 : 3;
        } else if ((type == "VP8 " || type == "VP8L") && !sawBitstream) {
            sawBitstream = true;
            int width, height;
            if (type == "VP8 ") {
                if (length < 10 || b.data[payload + 3] != 0x9D || b.data[payload + 4] != 0x01 || b.data[payload + 5] != 0x2A)
                    fail(CVISION_CORRUPT, "WebP VP8 chunk lacks a key-frame header" + at(pos));
                width = int(b.u16le(payload + 6) & 0x3FFF);
                height = int(b.u16le(payload + 8) & 0x3FFF);
                if (!extended) result.header.channels = 3;
            } else {
                if (length < 5 || b.data[payload] != 0x2F) fail(CVISION_CORRUPT, "WebP VP8L chunk lacks its signature" + at(pos));
                uint32_t bits = b.u32le(payload + 1);
                width = int(bits & 0x3FFF) + 1;
                height = int((bits >> 14) & 0x3FFF) + 1;
                if (!extended) result.header.channels = (bits >> 28) & 1 ? 4 : 3;
            }
            if (!extended) {
                result.header.width = width;
                result.header.height = height;
            } else if (width != result.header.width || height != result.header.height) {
                fail(CVISION_CORRUPT, "WebP bitstream size differs from the VP8X canvas size");
            }
        } else if (type == "EXIF" && metadata.exif == nullptr) {
            metadata.exif = b.data + payload;
            metadata.exifSize = length;
        } else if (type == "XMP " && metadata.xmp == nullptr) {
            metadata.xmp = b.data + payload;
            metadata.xmpSize = length;
        }
        pos = payload + length + (length & 1);
    }
    if (!sawBitstream) fail(CVISION_CORRUPT, "WebP has no VP8 or VP8L image chunk");
    if (result.header.width == 0 || result.header.height == 0) fail(CVISION_CORRUPT, "WebP image has width or height 0");
    result.header.orientation = metadata.orientation();
    return result;
}

/// Reads the BMP file and DIB headers and checks the pixel array is all there.
Probe probeBMP(const Bytes &b) {
    Probe result;
    result.header.format = CVISION_FORMAT_BMP;
    result.header.orientation = 1;
    b.need(0, 18, "BMP file header");
    size_t offset = b.u32le(10);
    size_t dibSize = b.u32le(14);
    int64_t width, height;
    uint32_t bits, compression = 0;
    if (dibSize == 12) {
        b.need(14, 12, "BMP core header");
        width = b.u16le(18);
        height = b.u16le(20);
        bits = b.u16le(24);
    } else if (dibSize >= 40 && dibSize <= 124) {
        b.need(14, 40, "BMP info header");
        width = int32_t(b.u32le(18));
        height = int32_t(b.u32le(22));
        bits = b.u16le(28);
        compression = b.u32le(30);
    } else {
        fail(CVISION_UNSUPPORTED, "BMP header size " + std::to_string(dibSize) + " is not a known variant");
    }
    if (height < 0) height = -height;  // top-down rows
    if (width <= 0 || height <= 0 || width > 0x7FFFFFFF || height > 0x7FFFFFFF)
        fail(CVISION_CORRUPT, "BMP header has invalid dimensions " + std::to_string(width) + "x" + std::to_string(height));
    if (!(bits == 1 || bits == 4 || bits == 8 || bits == 16 || bits == 24 || bits == 32))
        fail(CVISION_UNSUPPORTED, "BMP with " + std::to_string(bits) + " bits per pixel is not supported");
    if (compression == 4 || compression == 5)
        fail(CVISION_UNSUPPORTED, "BMP holding an embedded JPEG or PNG is not supported");
    if (compression > 6) fail(CVISION_CORRUPT, "BMP has unknown compression " + std::to_string(compression));
    result.header.width = int(width);
    result.header.height = int(height);
    result.header.bit_depth = int(bits);
    result.header.channels = bits == 32 ? 4 : 3;
    if (offset < 14 + dibSize) fail(CVISION_CORRUPT, "BMP pixel data offset " + std::to_string(offset) + " lies inside the headers");
    // Uncompressed rows are padded to 4 bytes; RLE streams have no fixed size to check.
    if (compression == 0 || compression == 3 || compression == 6) {
        uint64_t stride = ((uint64_t(width) * bits + 31) / 32) * 4;
        uint64_t needed = uint64_t(offset) + stride * uint64_t(height);
        if (needed > b.size)
            fail(CVISION_TRUNCATED, "BMP pixel array needs " + std::to_string(needed) + " bytes but the data has " +
                                        std::to_string(b.size));
    } else if (offset >= b.size) {
        fail(CVISION_TRUNCATED, "BMP data ends before its pixel array");
    }
    return result;
}

}  // namespace

Probe probe(const uint8_t *data, size_t size) {
    if (data == nullptr && size > 0) fail(CVISION_INVALID_ARGUMENT, "no data pointer");
    Bytes b{data, size};
    if (size == 0) fail(CVISION_NOT_AN_IMAGE, "the data is empty");
    if (b.matches(0, "\xFF\xD8\xFF", 3)) return probeJPEG(b);
    if (b.matches(0, "\x89PNG\r\n\x1A\n", 8)) return probePNG(b);
    if (b.matches(0, "RIFF", 4) && b.matches(8, "WEBP", 4)) return probeWebP(b);
    if (b.matches(0, "BM", 2)) return probeBMP(b);
    if (b.matches(0, "\x89PNG", 4) || b.matches(0, "\xFF\xD8", 2) || (b.matches(0, "RIFF", 4) && size < 12))
        fail(CVISION_TRUNCATED, "the data ends inside the file signature");
    fail(CVISION_NOT_AN_IMAGE, "not a JPEG, PNG, WebP or BMP file (unrecognised signature)");
}

}  // namespace cvision

extern "C" int cvision_probe(const uint8_t *data, size_t size, cvision_header *header, char *message, size_t capacity) {
    return cvision::guarded(message, capacity, [&] {
        if (header == nullptr) cvision::fail(CVISION_INVALID_ARGUMENT, "no header to fill");
        *header = cvision::probe(data, size).header;
    });
}
