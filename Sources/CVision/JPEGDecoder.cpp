// JPEG decoded through libjpeg directly (the library OpenCV's reader wraps), for two reasons:
// - libjpeg prints its warnings (corrupt data, extraneous bytes) to stderr from OpenCV's
//   reader; here they are silenced, and ignored as Pillow ignores them.
// - OpenCV converts CMYK to BGR with its own rounding; Pillow reads the samples as inverted
//   ("CMYK;I", Adobe's convention, which it always assumes) and converts with `cmyk2rgb`.
// Decoder settings are libjpeg's defaults (ISLOW IDCT, fancy upsampling), as in both.
#include "Shim.hpp"

#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>

namespace cvision {
namespace {

struct ErrorManager {
    jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr info) {
    auto *errors = reinterpret_cast<ErrorManager *>(info->err);
    (*info->err->format_message)(info, errors->message);
    longjmp(errors->jump, 1);
}

void onMessage(j_common_ptr, int) {}  // warnings are ignored, as Pillow does; never print them

/// Pillow's MULDIV255: a·b/255 rounded, in integers.
inline int mulDiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/// Decodes into `pixels` (width × height × `channels`, gray or RGB); returns false with
/// `message` set on a libjpeg error. No C++ object with a destructor lives between setjmp and
/// libjpeg's longjmp.
bool decode(const uint8_t *data, size_t size, int width, int height, int channels, uint8_t *pixels, uint8_t *row,
            char *message) {
    jpeg_decompress_struct info;
    ErrorManager errors;
    info.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = onError;
    errors.base.emit_message = onMessage;
    errors.message[0] = '\0';
    if (setjmp(errors.jump)) {
        std::snprintf(message, JMSG_LENGTH_MAX, "%s", errors.message);
        jpeg_destroy_decompress(&info);
        return false;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
    jpeg_read_header(&info, TRUE);
    bool cmyk = info.num_components == 4;
    info.out_color_space = cmyk ? JCS_CMYK : channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&info);
    if (int(info.output_width) != width || int(info.output_height) != height ||
        info.output_components != (cmyk ? 4 : channels)) {
        std::snprintf(message, JMSG_LENGTH_MAX, "libjpeg output differs from the frame header");
        jpeg_destroy_decompress(&info);
        return false;
    }
    while (info.output_scanline < info.output_height) {
        uint8_t *target = pixels + size_t(info.output_scanline) * width * channels;
        if (!cmyk) {
            JSAMPROW rows[1] = {target};
            jpeg_read_scanlines(&info, rows, 1);
            continue;
        }
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&info, rows, 1);
        for (int x = 0; x < width; x++) {
            const uint8_t *s = row + x * 4;
            // Inverted samples: c = 255 - s, and 255 - k = s[3].
            int notBlack = s[3];
            for (int c = 0; c < 3; c++) {
                int value = notBlack - mulDiv255(255 - s[c], notBlack);
                target[x * 3 + c] = uint8_t(value < 0 ? 0 : value > 255 ? 255 : value);
            }
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    return true;
}

}  // namespace

cv::Mat decodeJPEG(const uint8_t *data, size_t size, int width, int height, int components) {
    int channels = components == 1 ? 1 : 3;
    cv::Mat pixels(height, width, CV_8UC(channels));
    std::vector<uint8_t> row(components == 4 ? size_t(width) * 4 : 0);
    char message[JMSG_LENGTH_MAX];
    if (!decode(data, size, width, height, channels, pixels.data, row.data(), message))
        fail(CVISION_CORRUPT, std::string("libjpeg: ") + message);
    return pixels;
}

}  // namespace cvision
