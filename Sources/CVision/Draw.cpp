// Rectangles and Hershey-font text drawn in place on RGB buffers (OpenCV clips to the image).
#include "Shim.hpp"

#include <opencv2/imgproc.hpp>

namespace {
constexpr int font = cv::FONT_HERSHEY_SIMPLEX;

void checkImage(const uint8_t *rgb, int width, int height) {
    if (rgb == nullptr || width <= 0 || height <= 0) cvision::fail(CVISION_INVALID_ARGUMENT, "drawing needs a non-empty RGB image");
}
}  // namespace

extern "C" int cvision_draw_rectangle(uint8_t *rgb, int width, int height, int x0, int y0, int x1, int y1, uint8_t red,
                                      uint8_t green, uint8_t blue, int thickness, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        checkImage(rgb, width, height);
        if (thickness == 0 || thickness > 1024) fail(CVISION_INVALID_ARGUMENT, "rectangle thickness must be 1…1024 or negative (filled)");
        cv::Mat image(height, width, CV_8UC3, rgb);
        cv::rectangle(image, cv::Point(x0, y0), cv::Point(x1, y1), cv::Scalar(red, green, blue), thickness < 0 ? cv::FILLED : thickness,
                      cv::LINE_8);
    });
}

extern "C" int cvision_text_size(const char *text, double scale, int thickness, int *text_width, int *text_height,
                                 int *baseline, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        if (text == nullptr || !(scale > 0) || thickness <= 0) fail(CVISION_INVALID_ARGUMENT, "text size needs text, scale > 0, thickness > 0");
        int base = 0;
        cv::Size size = cv::getTextSize(text, font, scale, thickness, &base);
        if (text_width) *text_width = size.width;
        if (text_height) *text_height = size.height;
        if (baseline) *baseline = base;
    });
}

extern "C" int cvision_draw_text(uint8_t *rgb, int width, int height, const char *text, int x, int y, double scale,
                                 int thickness, uint8_t red, uint8_t green, uint8_t blue, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        checkImage(rgb, width, height);
        if (text == nullptr || !(scale > 0) || thickness <= 0) fail(CVISION_INVALID_ARGUMENT, "text needs text, scale > 0, thickness > 0");
        cv::Mat image(height, width, CV_8UC3, rgb);
        cv::putText(image, text, cv::Point(x, y), font, scale, cv::Scalar(red, green, blue), thickness, cv::LINE_AA);
    });
}
