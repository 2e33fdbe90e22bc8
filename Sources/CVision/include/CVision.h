// A C interface over OpenCV 4 (imgcodecs, imgproc) for the Imaging module.
//
// No C++ exception crosses this interface: every entry point returns a CVISION_* status and,
// on failure, writes a NUL-terminated description into `message` (at most `capacity` bytes).
// Pixel buffers are interleaved 8-bit, row-major, owned by the caller unless stated otherwise.
#ifndef CVISION_H
#define CVISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CVISION_OK = 0,
    CVISION_NOT_AN_IMAGE = 1,     // no known signature
    CVISION_UNSUPPORTED = 2,      // a known format in a variant we refuse (animation, BMP with JPEG inside…)
    CVISION_TRUNCATED = 3,        // the data ends before the image does
    CVISION_TOO_MANY_PIXELS = 4,  // width × height above the caller's limit (decompression bomb)
    CVISION_CORRUPT = 5,          // the header or the compressed data is invalid
    CVISION_INVALID_ARGUMENT = 6,
    CVISION_FAILED = 7,           // OpenCV failed (encoder error, out of memory…)
};

enum { CVISION_FORMAT_JPEG = 1, CVISION_FORMAT_PNG = 2, CVISION_FORMAT_WEBP = 3, CVISION_FORMAT_BMP = 4 };
enum { CVISION_INTER_LINEAR = 0, CVISION_INTER_CUBIC = 1, CVISION_INTER_AREA = 2 };

/// What the container header says, read without decoding any pixels.
typedef struct {
    int format;       // CVISION_FORMAT_*
    int width;        // as stored, before EXIF orientation
    int height;
    int orientation;  // EXIF orientation 1…8 (1 when absent or invalid), as Pillow's getexif() reads it
    int channels;     // colour channels as stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha/CMYK
    int bit_depth;    // bits per sample (PNG 1…16, JPEG 8 or 12, BMP bits per pixel, WebP 8)
} cvision_header;

/// Bytes allocated by the shim; release with cvision_bytes_free.
typedef struct {
    uint8_t *data;
    size_t size;
} cvision_bytes;

/// OpenCV's CV_VERSION string, e.g. "4.6.0".
const char *cvision_opencv_version(void);

/// Identifies the format, reads the dimensions and EXIF orientation, and checks that the
/// container is complete (JPEG EOI, PNG IEND, RIFF size, BMP pixel array) without decoding.
int cvision_probe(const uint8_t *data, size_t size, cvision_header *header, char *message, size_t capacity);

/// Decodes to RGB8 with the EXIF orientation applied, after checking the header's
/// width × height against `max_pixels`. `out` must hold width × height × 3 bytes of the
/// oriented image (dimensions swapped for orientations 5…8); the oriented size is returned.
int cvision_decode_rgb(const uint8_t *data, size_t size, uint64_t max_pixels, uint8_t *out, size_t out_capacity,
                       int *out_width, int *out_height, char *message, size_t capacity);

/// cv::resize of an interleaved image with 1…4 channels.
int cvision_resize(const uint8_t *src, int width, int height, int channels, uint8_t *dst, int dst_width,
                   int dst_height, int interpolation, char *message, size_t capacity);

/// Encodes a gray (channels 1) or RGB (channels 3) image as PNG or JPEG (quality 0…100).
int cvision_encode(const uint8_t *pixels, int width, int height, int channels, int format, int quality,
                   cvision_bytes *out, char *message, size_t capacity);
void cvision_bytes_free(cvision_bytes *bytes);

/// Draws a rectangle on an RGB image in place, clipped to the image; thickness < 0 fills it.
int cvision_draw_rectangle(uint8_t *rgb, int width, int height, int x0, int y0, int x1, int y1,
                           uint8_t red, uint8_t green, uint8_t blue, int thickness, char *message, size_t capacity);

/// Size of `text` (ASCII) in the Hershey simplex font; the baseline is below `text_height`.
int cvision_text_size(const char *text, double scale, int thickness, int *text_width, int *text_height,
                      int *baseline, char *message, size_t capacity);

/// Draws `text` with its baseline's left end at (x, y), anti-aliased, clipped to the image.
int cvision_draw_text(uint8_t *rgb, int width, int height, const char *text, int x, int y, double scale,
                      int thickness, uint8_t red, uint8_t green, uint8_t blue, char *message, size_t capacity);

/// cv::connectedComponentsWithStats of a 0/non-zero mask (row-major bytes) with 4- or 8-connectivity:
/// `labels` (width × height) gets 0 for background and 1…count−1 for the components.
int cvision_connected_components(const uint8_t *mask, int width, int height, int connectivity, int32_t *labels,
                                 int *count, char *message, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
