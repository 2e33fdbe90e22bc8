// CMYK and YCCK JPEGs decoded through libjpeg directly, converted as Pillow does.
//
// OpenCV converts CMYK to BGR inside its JPEG reader with its own rounding; Pillow reads the
// samples as inverted ("CMYK;I", Adobe's convention, which it always assumes) and converts
// with `cmyk2rgb`. Matching it needs the raw samples, so this path bypasses cv::imdecode.
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

/// Decodes into `rgb` (width × height × 3); returns false with `message` set on a libjpeg error.
/// No C++ object with a destructor lives between setjmp and libjpeg's longjmp.
bool decode(const uint8_t *data, size_t size, int width, int height, uint8_t *rgb, uint8_t *row, char *message) {
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
    info.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&info);
    if (int(info.output_width) != width || int(info.output_height) != height || info.output_components != 4) {
        std::snprintf(message, JMSG_LENGTH_MAX, "libjpeg output differs from the frame header");
        jpeg_destroy_decompress(&info);
        return false;
    }
    while (info.output_scanline < info.output_height) {
        uint8_t *target = rgb + size_t(info.output_scanline) * width * 3;
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

cv::Mat decodeCMYKJPEG(const uint8_t *data, size_t size, int width, int height) {
    cv::Mat rgb(height, width, CV_8UC3);
    std::vector<uint8_t> row(size_t(width) * 4);
    char message[JMSG_LENGTH_MAX];
    if (!decode(data, size, width, height, rgb.data, row.data(), message))
        fail(CVISION_CORRUPT, std::string("libjpeg: ") + message);
    return rgb;
}

}  // namespace cvision
