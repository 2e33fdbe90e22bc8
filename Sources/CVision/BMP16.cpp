// 16-bit BMPs decoded directly: OpenCV expands 5-bit channels by shifting, Pillow scales
// them (v·255/31, v·255/63), and the reference is Pillow.
#include "Shim.hpp"

namespace cvision {

cv::Mat decodeBMP16(const uint8_t *data, size_t size, int width, int height) {
    auto u16 = [&](size_t o) { return uint32_t(data[o]) | uint32_t(data[o + 1]) << 8; };
    auto u32 = [&](size_t o) { return u16(o) | u16(o + 2) << 16; };
    // Probe() has checked the headers and that the pixel array is complete.
    size_t offset = u32(10);
    bool topDown = int32_t(u32(22)) < 0;
    uint32_t compression = u32(30);
    bool r565 = false;
    if (compression == 3) {
        if (size < 66) fail(CVISION_TRUNCATED, "BMP data ends inside its colour masks");
        uint32_t red = u32(54), green = u32(58), blue = u32(62);
        if (red == 0xF800 && green == 0x07E0 && blue == 0x001F) r565 = true;
        else if (!(red == 0x7C00 && green == 0x03E0 && blue == 0x001F))
            fail(CVISION_UNSUPPORTED, "16-bit BMP with colour masks other than 5-6-5 or 5-5-5");
    } else if (compression != 0) {
        fail(CVISION_UNSUPPORTED, "16-bit BMP with compression " + std::to_string(compression));
    }
    size_t stride = (size_t(width) * 2 + 3) / 4 * 4;
    cv::Mat rgb(height, width, CV_8UC3);
    for (int y = 0; y < height; y++) {
        const uint8_t *source = data + offset + stride * size_t(topDown ? y : height - 1 - y);
        uint8_t *target = rgb.ptr<uint8_t>(y);
        for (int x = 0; x < width; x++) {
            uint32_t pixel = uint32_t(source[2 * x]) | uint32_t(source[2 * x + 1]) << 8;
            if (r565) {
                target[3 * x] = uint8_t(((pixel >> 11) & 31) * 255 / 31);
                target[3 * x + 1] = uint8_t(((pixel >> 5) & 63) * 255 / 63);
            } else {
                target[3 * x] = uint8_t(((pixel >> 10) & 31) * 255 / 31);
                target[3 * x + 1] = uint8_t(((pixel >> 5) & 31) * 255 / 31);
            }
            target[3 * x + 2] = uint8_t((pixel & 31) * 255 / 31);
        }
    }
    return rgb;
}

}  // namespace cvision
