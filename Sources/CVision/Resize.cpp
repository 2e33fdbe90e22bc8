// cv::resize over caller-owned interleaved buffers.
#include "Shim.hpp"

#include <opencv2/imgproc.hpp>

extern "C" int cvision_resize(const uint8_t *src, int width, int height, int channels, uint8_t *dst, int dst_width,
                              int dst_height, int interpolation, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        if (src == nullptr || dst == nullptr || width <= 0 || height <= 0 || dst_width <= 0 || dst_height <= 0 ||
            channels < 1 || channels > 4)
            fail(CVISION_INVALID_ARGUMENT, "resize needs non-empty images with 1 to 4 channels");
        int mode;
        switch (interpolation) {
        case CVISION_INTER_LINEAR: mode = cv::INTER_LINEAR; break;
        case CVISION_INTER_CUBIC: mode = cv::INTER_CUBIC; break;
        case CVISION_INTER_AREA: mode = cv::INTER_AREA; break;
        default: fail(CVISION_INVALID_ARGUMENT, "unknown interpolation " + std::to_string(interpolation));
        }
        cv::Mat input(height, width, CV_8UC(channels), const_cast<uint8_t *>(src));
        cv::Mat output(dst_height, dst_width, CV_8UC(channels), dst);
        cv::resize(input, output, output.size(), 0, 0, mode);
        if (output.data != dst) fail(CVISION_FAILED, "resize reallocated the output");
    });
}
