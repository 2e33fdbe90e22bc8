// cv::connectedComponentsWithStats over a caller-owned binary mask.
#include "Shim.hpp"

#include <opencv2/imgproc.hpp>

extern "C" int cvision_connected_components(const uint8_t *mask, int width, int height, int connectivity,
                                            int32_t *labels, int *count, char *message, size_t capacity) {
    using namespace cvision;
    return guarded(message, capacity, [&] {
        if (mask == nullptr || labels == nullptr || count == nullptr || width <= 0 || height <= 0)
            fail(CVISION_INVALID_ARGUMENT, "connected components need a non-empty mask and a label buffer");
        if (connectivity != 4 && connectivity != 8)
            fail(CVISION_INVALID_ARGUMENT, "connectivity must be 4 or 8, got " + std::to_string(connectivity));
        cv::Mat input(height, width, CV_8UC1, const_cast<uint8_t *>(mask));
        cv::Mat output(height, width, CV_32SC1, labels);
        // The call segment-anything makes (cv2.connectedComponentsWithStats), so that labels are numbered
        // by the same algorithm; areas are counted from the labels by the caller.
        cv::Mat stats, centroids;
        *count = cv::connectedComponentsWithStats(input, output, stats, centroids, connectivity, CV_32S);
        if (output.data != reinterpret_cast<uint8_t *>(labels)) fail(CVISION_FAILED, "connectedComponents reallocated the labels");
    });
}
