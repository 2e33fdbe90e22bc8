// PNG and JPEG encoding through cv::imencode.
#include "Shim.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <vector>

extern "C" const char *cvision_opencv_version(void) { return CV_VERSION; }

extern "C" int cvision_encode(const uint8_t *pixels, int width, int height, int channels, int format, int quality,
                              cvision_bytes *out, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        silenceLogging();
        if (out == nullptr) fail(CVISION_INVALID_ARGUMENT, "no output");
        out->data = nullptr;
        out->size = 0;
        if (pixels == nullptr || width <= 0 || height <= 0 || (channels != 1 && channels != 3))
            fail(CVISION_INVALID_ARGUMENT, "encode needs a non-empty gray or RGB image");
        cv::Mat image(height, width, CV_8UC(channels), const_cast<uint8_t *>(pixels));
        if (channels == 3) {
            cv::Mat bgr;  // a new buffer: the caller's pixels stay intact
            cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
            image = bgr;
        }
        std::vector<int> parameters;
        const char *extension;
        if (format == CVISION_FORMAT_PNG) {
            extension = ".png";
        } else if (format == CVISION_FORMAT_JPEG) {
            if (quality < 0 || quality > 100) fail(CVISION_INVALID_ARGUMENT, "JPEG quality must be 0…100, got " + std::to_string(quality));
            extension = ".jpg";
            parameters = {cv::IMWRITE_JPEG_QUALITY, quality};
        } else {
            fail(CVISION_INVALID_ARGUMENT, "can only encode PNG or JPEG");
        }
        std::vector<uchar> encoded;
        if (!cv::imencode(extension, image, encoded, parameters)) fail(CVISION_FAILED, "the encoder failed");
        out->data = static_cast<uint8_t *>(std::malloc(encoded.size()));
        if (out->data == nullptr) throw std::bad_alloc();
        std::memcpy(out->data, encoded.data(), encoded.size());
        out->size = encoded.size();
    });
}

extern "C" void cvision_bytes_free(cvision_bytes *bytes) {
    if (bytes == nullptr) return;
    std::free(bytes->data);
    bytes->data = nullptr;
    bytes->size = 0;
}
