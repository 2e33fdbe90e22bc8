// Internal helpers shared by the shim's translation units.
#pragma once

#include "CVision.h"

#include <opencv2/core.hpp>

#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace cvision {

/// Thrown inside the shim and turned into a status code at the C boundary.
struct Failure {
    int status;
    std::string message;
};

[[noreturn]] inline void fail(int status, std::string message) { throw Failure{status, std::move(message)}; }

inline void writeMessage(char *message, size_t capacity, const std::string &text) {
    if (message == nullptr || capacity == 0) return;
    size_t count = text.size() < capacity - 1 ? text.size() : capacity - 1;
    std::memcpy(message, text.data(), count);
    message[count] = '\0';
}

/// Runs `body`, mapping every exception to a status and message: the C boundary's only door.
template <class Body> int guarded(char *message, size_t capacity, Body body) {
    try {
        body();
        writeMessage(message, capacity, "");
        return CVISION_OK;
    } catch (const Failure &failure) {
        writeMessage(message, capacity, failure.message);
        return failure.status;
    } catch (const cv::Exception &error) {
        writeMessage(message, capacity, "OpenCV: " + error.msg);
        return CVISION_FAILED;
    } catch (const std::bad_alloc &) {
        writeMessage(message, capacity, "out of memory");
        return CVISION_FAILED;
    } catch (const std::exception &error) {
        writeMessage(message, capacity, error.what());
        return CVISION_FAILED;
    } catch (...) {
        writeMessage(message, capacity, "unknown C++ exception");
        return CVISION_FAILED;
    }
}

/// Silences OpenCV's own log output (it would print to stderr on bad input).
void silenceLogging();

/// Probe with the details the decoder needs beyond the public header.
struct Probe {
    cvision_header header{};
    int pngColorType = -1;
};

Probe probe(const uint8_t *data, size_t size);

/// A JPEG as gray (1 component) or RGB; CMYK converted as Pillow's CMYK;I + convert("RGB")
/// (JPEGDecoder.cpp).
cv::Mat decodeJPEG(const uint8_t *data, size_t size, int width, int height, int components);

/// A 16-bit BMP as RGB, expanded as Pillow's BGR;15 / BGR;16 unpackers (BMP16.cpp).
cv::Mat decodeBMP16(const uint8_t *data, size_t size, int width, int height);

}  // namespace cvision
