// Decoding to RGB8 through cv::imdecode, after the container checks in Probe.cpp.
#include "Shim.hpp"

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <climits>
#include <mutex>

namespace cvision {

void silenceLogging() {
    static std::once_flag once;
    std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
}

namespace {

/// Pillow's ImageOps.exif_transpose for orientations 2…8.
cv::Mat oriented(const cv::Mat &image, int orientation) {
    cv::Mat result;
    switch (orientation) {
    case 2: cv::flip(image, result, 1); break;                                   // FLIP_LEFT_RIGHT
    case 3: cv::flip(image, result, -1); break;                                  // ROTATE_180
    case 4: cv::flip(image, result, 0); break;                                   // FLIP_TOP_BOTTOM
    case 5: cv::transpose(image, result); break;                                 // TRANSPOSE
    case 6: cv::rotate(image, result, cv::ROTATE_90_CLOCKWISE); break;           // ROTATE_270
    case 7: cv::transpose(image, result); cv::flip(result, result, -1); break;   // TRANSVERSE
    case 8: cv::rotate(image, result, cv::ROTATE_90_COUNTERCLOCKWISE); break;    // ROTATE_90
    default: result = image;
    }
    return result;
}

/// The image as stored (before orientation): 8-bit gray, RGB, or BGR when `bgr` is set.
cv::Mat decodeStored(const Probe &info, const uint8_t *data, size_t size, bool &bgr) {
    bgr = false;
    const cvision_header &header = info.header;
    if (header.format == CVISION_FORMAT_JPEG)
        return decodeJPEG(data, size, header.width, header.height, header.channels);
    if (header.format == CVISION_FORMAT_BMP && header.bit_depth == 16)
        return decodeBMP16(data, size, header.width, header.height);
    // Pillow opens 16-bit grayscale PNG as mode I;16, whose convert("RGB") clips at 255;
    // every other 16-bit PNG keeps the high byte, as libpng's strip_16 does.
    bool gray16 = info.pngColorType == 0 && header.bit_depth == 16;
    int flags = cv::IMREAD_IGNORE_ORIENTATION | (gray16 ? cv::IMREAD_ANYDEPTH | cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    cv::Mat encoded(1, int(size), CV_8UC1, const_cast<uint8_t *>(data));
    cv::Mat image = cv::imdecode(encoded, flags);
    if (image.empty()) fail(CVISION_CORRUPT, "the decoder rejected the compressed data");
    if (gray16) {
        image.convertTo(image, CV_8U);  // saturating: values above 255 become 255
        return image;
    }
    bgr = true;
    return image;
}

}  // namespace
}  // namespace cvision

extern "C" int cvision_decode_rgb(const uint8_t *data, size_t size, uint64_t max_pixels, uint8_t *out,
                                  size_t out_capacity, int *out_width, int *out_height, char *message,
                                  size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        silenceLogging();
        Probe info = probe(data, size);
        const cvision_header &header = info.header;
        uint64_t pixels = uint64_t(header.width) * uint64_t(header.height);
        if (pixels > max_pixels)
            fail(CVISION_TOO_MANY_PIXELS, std::to_string(header.width) + "x" + std::to_string(header.height) + " = " +
                                              std::to_string(pixels) + " pixels exceeds the limit of " +
                                              std::to_string(max_pixels) + " (possible decompression bomb)");
        bool swapped = header.orientation >= 5;
        int width = swapped ? header.height : header.width, height = swapped ? header.width : header.height;
        if (out_width) *out_width = width;
        if (out_height) *out_height = height;
        if (out == nullptr || out_capacity < pixels * 3)
            fail(CVISION_INVALID_ARGUMENT, "output buffer holds " + std::to_string(out_capacity) + " bytes, " +
                                               std::to_string(pixels * 3) + " needed");
        if (size > size_t(INT_MAX)) fail(CVISION_UNSUPPORTED, "image files above 2 GiB are not supported");

        bool bgr;
        cv::Mat image = decodeStored(info, data, size, bgr);
        if (image.cols != header.width || image.rows != header.height)
            fail(CVISION_CORRUPT, "decoded size " + std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                                      " differs from the header's " + std::to_string(header.width) + "x" +
                                      std::to_string(header.height));
        image = oriented(image, header.orientation);
        cv::Mat rgb(height, width, CV_8UC3, out);
        if (image.channels() == 1) cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB);
        else if (bgr) cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB);
        else image.copyTo(rgb);
        if (rgb.data != out) fail(CVISION_FAILED, "conversion reallocated the output");
    });
}
