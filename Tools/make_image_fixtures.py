#!/usr/bin/env python3
"""Regenerates Tests/ImagingTests/Fixtures (deterministic: fixed seeds and formulas).

Run from the repository root with the reference venv:
    .venv-ref/bin/python Tools/make_image_fixtures.py

The reference for decoding is what RegionSpot's data loading does (detectron2 `read_image`):
Pillow `Image.open`, EXIF transpose (`ImageOps.exif_transpose`, same table as detectron2's
`_apply_exif_orientation`), then `.convert("RGB")`. The reference for resizing is Pillow's
`Image.resize` (SAM's `ResizeLongestSide` calls torchvision `resize(to_pil_image(x))`, which is
Pillow's bilinear with antialiasing). OpenCV's own resize is checked against cv2.

Outputs (all small):
  decode/*           encoded inputs; decode.json lists each with its expected RGB as a raw
                     file (<name>.rgb, height×width×3 bytes) or the kind of error expected.
  resize.json        Pillow resize cases of procedurally generated sources (the same formula
                     is in the Swift tests); expected output raw (small) or as an FNV-1a hash.
  resize/*.rgb       the small expected outputs.
"""
import io
import json
import os
import struct
import zlib

import cv2
import numpy as np
import PIL
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "ImagingTests", "Fixtures")
DECODE = os.path.join(FIXTURES, "decode")
RESIZE = os.path.join(FIXTURES, "resize")


# ---------------------------------------------------------------------------------------------
# Procedural sources, mirrored in Tests/ImagingTests/PatternImages.swift.

def pattern(width, height, kind, seed):
    """kind: "noise" (uniform bytes), "gradient" (smooth ramps), "mixed" (ramps + noise + edges)."""
    ys, xs = np.meshgrid(np.arange(height, dtype=np.int64), np.arange(width, dtype=np.int64), indexing="ij")
    out = np.zeros((height, width, 3), dtype=np.uint8)
    for c in range(3):
        h = (xs * 73856093) ^ (ys * 19349663) ^ (c * 83492791) ^ (seed * 2654435761)
        h &= 0xFFFFFFFF
        h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
        h ^= h >> 16
        if kind == "noise":
            v = h & 255
        elif kind == "gradient":
            v = (xs * 255 // max(width - 1, 1) * (c + 1) + ys * 255 // max(height - 1, 1) * (3 - c)) // 4
        elif kind == "mixed":
            ramp = (xs * 3 + ys * 2 + c * 40) & 255
            edge = np.where(((xs // 7) + (ys // 5)) % 2 == 0, 0, 96)
            v = np.clip(ramp // 2 + edge + (h & 63) - 32, 0, 255)
        else:
            raise ValueError(kind)
        out[:, :, c] = v
    return out


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# ---------------------------------------------------------------------------------------------
# Decoding fixtures.

def reference_rgb(path):
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def save_bytes(name, data):
    with open(os.path.join(DECODE, name), "wb") as f:
        f.write(data)


def encode(im, fmt, **kwargs):
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def make_decode_fixtures():
    os.makedirs(DECODE, exist_ok=True)
    for name in os.listdir(DECODE):
        os.remove(os.path.join(DECODE, name))
    cases = []

    def add(name, data):
        save_bytes(name, data)
        rgb = reference_rgb(os.path.join(DECODE, name))
        with open(os.path.join(DECODE, name + ".rgb"), "wb") as f:
            f.write(np.ascontiguousarray(rgb).tobytes())
        cases.append({"file": name, "width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "expected": name + ".rgb"})

    def refuse(name, data, kind):
        save_bytes(name, data)
        cases.append({"file": name, "error": kind})

    base = Image.fromarray(pattern(40, 26, "mixed", 1))
    gray = base.convert("L")

    # JPEG: chroma subsampling variants, gray, progressive, restart markers.
    add("rgb420.jpg", encode(base, "JPEG", quality=90, subsampling=2))
    add("rgb444.jpg", encode(base, "JPEG", quality=95, subsampling=0))
    add("rgb422.jpg", encode(base, "JPEG", quality=85, subsampling=1))
    add("gray.jpg", encode(gray, "JPEG", quality=90))
    add("progressive.jpg", encode(base, "JPEG", quality=80, progressive=True))
    add("cmyk.jpg", encode(base.convert("CMYK"), "JPEG", quality=95))
    # Damaged entropy-coded data with intact markers: libjpeg warns and decodes anyway, and
    # Pillow ignores the warnings; so do we (silently).
    damaged = bytearray(encode(base, "JPEG", quality=90))
    scan = damaged.index(b"\xff\xda") + 14
    damaged[scan + 40:scan + 60] = bytes(range(1, 21))
    add("damaged_scan.jpg", bytes(damaged))
    with_restarts = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(base), cv2.COLOR_RGB2BGR),
                                 [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 2])[1].tobytes()
    add("restarts.jpg", with_restarts)
    # Every EXIF orientation on a non-square image (JPEG), and one each in PNG and WebP.
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(f"orientation{orientation}.jpg", encode(base, "JPEG", quality=90, exif=exif.tobytes()))
    exif = Image.Exif()
    exif[0x0112] = 6
    add("orientation6.png", encode(base, "PNG", exif=exif.tobytes()))
    exif[0x0112] = 8
    add("orientation8.webp", encode(base, "WEBP", lossless=True, exif=exif.tobytes()))
    exif[0x0112] = 3
    add("orientation3_bigendian.jpg", encode(base, "JPEG", quality=90, exif=big_endian_exif(3)))
    # Orientation only in XMP: Pillow's getexif() falls back to it.
    xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
           b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    add("orientation6_xmp.jpg", encode(base, "JPEG", quality=90, xmp=xmp))

    # PNG: every colour type, bit depths 1 and 16, palette with transparency.
    add("rgb.png", encode(base, "PNG"))
    add("rgba.png", encode(Image.fromarray(np.dstack([np.asarray(base), pattern(40, 26, "noise", 2)[:, :, 0]])), "PNG"))
    add("gray.png", encode(gray, "PNG"))
    add("gray_alpha.png", encode(Image.merge("LA", [gray, gray.point(lambda v: 255 - v)]), "PNG"))
    palette = base.quantize(colors=16)
    add("palette.png", encode(palette, "PNG"))
    add("palette_transparency.png", encode(palette, "PNG", transparency=bytes([0, 128] + [255] * 14)))
    add("bilevel.png", encode(gray.point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG"))
    gray16 = (pattern(40, 26, "mixed", 3)[:, :, 0].astype(np.uint16) * 3) + 50  # 50…815: some above 255
    add("gray16.png", encode(Image.fromarray(gray16.astype(np.uint16)), "PNG"))
    rgb16 = pattern(40, 26, "noise", 4).astype(np.uint16) * 257 + np.uint16(3)
    add("rgb16.png", cv2.imencode(".png", rgb16)[1].tobytes())
    rgba16 = np.dstack([rgb16, rgb16[:, :, :1]])
    add("rgba16.png", cv2.imencode(".png", rgba16)[1].tobytes())
    la16 = np.dstack([gray16 * 50, gray16]).astype(np.uint16)
    add("gray_alpha16.png", png_raw(la16, color_type=4, depth=16))

    # WebP: lossless, lossy, with alpha.
    add("lossless.webp", encode(base, "WEBP", lossless=True))
    add("lossy.webp", encode(base, "WEBP", quality=80))
    add("alpha.webp", encode(base.convert("RGBA"), "WEBP", lossless=True))

    # BMP: 24-bit, 8-bit palette, 1-bit, 32-bit with alpha, top-down rows.
    add("rgb24.bmp", encode(base, "BMP"))
    add("palette8.bmp", encode(palette, "BMP"))
    add("bilevel.bmp", encode(gray.convert("1"), "BMP"))
    add("rgba32.bmp", encode(base.convert("RGBA"), "BMP"))
    add("topdown.bmp", top_down_bmp(np.asarray(base)))
    add("rgb555.bmp", bmp16(np.asarray(base), None))
    add("rgb565.bmp", bmp16(np.asarray(base), (0xF800, 0x07E0, 0x001F)))

    # Refusals.
    jpeg = encode(base, "JPEG", quality=90)
    refuse("truncated.jpg", jpeg[: len(jpeg) * 2 // 3], "truncated")
    refuse("no_eoi.jpg", jpeg[:-2], "truncated")
    png = encode(base, "PNG")
    refuse("truncated.png", png[: len(png) // 2], "truncated")
    refuse("no_iend.png", png[:-12], "truncated")
    webp = encode(base, "WEBP", quality=80)
    refuse("truncated.webp", webp[: len(webp) - 10], "truncated")
    bmp = encode(base, "BMP")
    refuse("truncated.bmp", bmp[: len(bmp) - 100], "truncated")
    refuse("random.bin", np.random.default_rng(7).integers(0, 256, 2000, dtype=np.uint8).tobytes(), "notAnImage")
    refuse("text.txt", b"this is not an image\n", "notAnImage")
    refuse("empty.png", b"", "notAnImage")
    refuse("signature_only.png", png[:6], "truncated")
    refuse("gif.gif", encode(base, "GIF"), "notAnImage")
    refuse("bomb.png", png_bomb(100000, 100000), "tooManyPixels")
    refuse("bomb.jpg", jpeg_bomb(65000, 65000), "tooManyPixels")
    corrupt = bytearray(png)
    corrupt[60:80] = bytes(20)  # inside IDAT: the CRC and the zlib stream break
    refuse("corrupt.png", bytes(corrupt), "corrupt")

    with open(os.path.join(FIXTURES, "decode.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "cases": cases}, f, indent=1)


def big_endian_exif(orientation):
    """A Motorola-order TIFF block: IFD0 with one SHORT orientation entry."""
    return b"Exif\0\0MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)


def png_raw(samples, color_type, depth):
    """A PNG written by hand (Pillow cannot write 16-bit gray+alpha)."""
    height, width = samples.shape[:2]
    rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    raw = b"".join(b"\0" + rows[y].tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def png_bomb(width, height):
    """A valid-looking PNG header claiming width×height, with a token IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + png_chunk(b"IEND", b""))


def jpeg_bomb(width, height):
    """SOI, a baseline frame header claiming width×height, an empty scan, EOI."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 16 + b"\xff\xd9"


def bmp16(rgb, masks):
    """A 16-bit BMP: 5-5-5 without masks (BI_RGB), else BI_BITFIELDS with (red, green, blue) masks."""
    height, width = rgb.shape[:2]
    r, g, b = (rgb[:, :, i].astype(np.uint32) for i in range(3))
    if masks is None:
        packed = (r >> 3) << 10 | (g >> 3) << 5 | (b >> 3)
    else:
        packed = (r >> 3) << 11 | (g >> 2) << 5 | (b >> 3)
    stride = (width * 2 + 3) // 4 * 4
    rows = b"".join(packed[y].astype("<u2").tobytes() + b"\0" * (stride - width * 2) for y in range(height - 1, -1, -1))
    extra = b"" if masks is None else struct.pack("<III", *masks)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 16, 0 if masks is None else 3, len(rows), 2835, 2835, 0, 0)
    offset = 14 + 40 + len(extra)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + info + extra + rows


def top_down_bmp(rgb):
    """A 24-bit BMP with negative height (rows stored top to bottom)."""
    height, width = rgb.shape[:2]
    stride = (width * 3 + 3) // 4 * 4
    rows = b"".join(rgb[y, :, ::-1].tobytes() + b"\0" * (stride - width * 3) for y in range(height))
    info = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    header = b"BM" + struct.pack("<IHHI", 14 + 40 + len(rows), 0, 0, 14 + 40)
    return header + info + rows


# ---------------------------------------------------------------------------------------------
# Resize fixtures.

def make_resize_fixtures():
    import torchvision.transforms.functional as TF

    os.makedirs(RESIZE, exist_ok=True)
    for name in os.listdir(RESIZE):
        os.remove(os.path.join(RESIZE, name))
    filters = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
    cases = []
    specs = [
        # (source w, h, kind, seed, target w, h, filter)
        (1500, 1000, "mixed", 11, 1024, 683, "bilinear"),   # SAM ResizeLongestSide of a 1500×1000 photo
        (1000, 1500, "noise", 12, 683, 1024, "bilinear"),
        (640, 427, "mixed", 13, 1024, 683, "bilinear"),     # upscale
        (333, 251, "mixed", 14, 224, 224, "bicubic"),       # CLIP-style squash
        (101, 67, "noise", 15, 224, 224, "bicubic"),
        (37, 23, "noise", 16, 16, 11, "bilinear"),
        (37, 23, "gradient", 17, 80, 50, "bicubic"),
        (37, 23, "noise", 18, 37, 50, "bicubic"),            # vertical pass only
        (37, 23, "noise", 19, 20, 23, "bilinear"),           # horizontal pass only
        (37, 23, "noise", 20, 5, 3, "bicubic"),
        (5, 3, "noise", 21, 1, 1, "bilinear"),
        (1, 1, "noise", 22, 7, 5, "bicubic"),
        (999, 7, "noise", 23, 3, 13, "bilinear"),            # extreme ratios both ways
        (257, 129, "noise", 24, 255, 131, "bicubic"),        # nearly identity: negative lobes, clipping
        # Pillow 13 runs the vertical pass first when the height shrinks by more than twice as many
        # pixels as the width (the rounded 8-bit intermediate makes the order visible):
        (29, 61, "noise", 25, 20, 42, "bicubic"),            # CLIP's portrait case: 19 > 2·9, vertical first
        (30, 60, "noise", 26, 28, 20, "bilinear"),           # vertical first
        (17, 45, "noise", 27, 23, 12, "bicubic"),            # vertical first, width upscaled
        (40, 50, "noise", 28, 35, 40, "bilinear"),           # 10 = 2·5: still horizontal first
        (40, 50, "noise", 29, 35, 39, "bicubic"),            # 11 > 2·5: vertical first
        (13, 9, "noise", 30, 31, 22, "bilinear"),            # odd upscale both ways
        (23, 19, "noise", 31, 11, 41, "bicubic"),            # width down, height up
        (61, 29, "noise", 32, 42, 20, "bicubic"),            # landscape twin of CLIP's case: horizontal first
    ]
    for sw, sh, kind, seed, tw, th, filter_name in specs:
        source = pattern(sw, sh, kind, seed)
        image = Image.fromarray(source)
        if filter_name == "bilinear":
            # The reference call itself: torchvision resize of a PIL image, size as (h, w).
            result = np.asarray(TF.resize(TF.to_pil_image(source), [th, tw]))
            assert np.array_equal(result, np.asarray(image.resize((tw, th), filters[filter_name])))
        else:
            result = np.asarray(image.resize((tw, th), filters[filter_name]))
        case = {"source": {"width": sw, "height": sh, "kind": kind, "seed": seed},
                "width": tw, "height": th, "filter": filter_name}
        data = np.ascontiguousarray(result).tobytes()
        if len(data) <= 8192:
            name = f"{kind}{seed}_{sw}x{sh}_{tw}x{th}_{filter_name}.rgb"
            with open(os.path.join(RESIZE, name), "wb") as f:
                f.write(data)
            case["expected"] = name
        else:
            case["fnv1a64"] = fnv1a64(data)
        cases.append(case)

    # OpenCV's own resize (cv2 here, libopencv 4.6 in Swift), on a small source.
    source = pattern(37, 23, "mixed", 30)
    cv_cases = []
    for mode, flag in (("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC), ("area", cv2.INTER_AREA)):
        for tw, th in ((20, 15), (61, 40)):
            result = cv2.resize(source, (tw, th), interpolation=flag)
            name = f"opencv_{mode}_{tw}x{th}.rgb"
            with open(os.path.join(RESIZE, name), "wb") as f:
                f.write(np.ascontiguousarray(result).tobytes())
            cv_cases.append({"interpolation": mode, "width": tw, "height": th, "expected": name})

    with open(os.path.join(FIXTURES, "resize.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "opencv_python": cv2.__version__, "cases": cases,
                   "opencv": {"source": {"width": 37, "height": 23, "kind": "mixed", "seed": 30}, "cases": cv_cases}},
                  f, indent=1)


if __name__ == "__main__":
    make_decode_fixtures()
    make_resize_fixtures()
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(FIXTURES) for n in ns)
    print(f"wrote {FIXTURES} ({total / 1024:.0f} KiB)")
