#!/usr/bin/env python3
"""Writes the safetensors and .npy fixtures of Tests/TensorsTests/Fixtures/io/ with the
reference libraries (safetensors, numpy, torch), so the Swift readers and writers are checked
against files those libraries produced. Deterministic (seeded); rerun with

    .venv-ref/bin/python Tools/make_io_fixtures.py
"""
import os

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TensorsTests", "Fixtures", "io")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    torch.manual_seed(1234)

    # Every dtype the reader converts, beside the float32 values PyTorch gets from it.
    f32 = torch.randn(3, 5)
    tensors = {
        "f32": f32,
        "f16": (torch.randn(2, 3, 4) * 100).half(),
        "bf16": (torch.randn(7) * 1e-3).bfloat16(),
        "f64": torch.randn(2, 2, dtype=torch.float64),
        "i64": torch.tensor([0, -3, 5, 1 << 20], dtype=torch.int64),
        "i32": torch.tensor([[7, -8], [9, 10]], dtype=torch.int32),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "nested.module.weight": torch.randn(4, 2),
    }
    save_torch(tensors, os.path.join(OUT, "dtypes.safetensors"), metadata={"format": "pt"})
    save_torch({k: v.to(torch.float32) for k, v in tensors.items()}, os.path.join(OUT, "dtypes_expected.safetensors"))

    # Writer parity: Swift re-encodes these values and must produce identical bytes.
    writer = {
        "weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1,
        "bias": torch.tensor([0.5, -0.125, 3.0, 1e-3]),
        "half": (torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7).half(),
        "brain": (torch.arange(5, dtype=torch.float32) * 1.1).bfloat16(),
        "counter": torch.tensor(42, dtype=torch.int64),
        "a \"quoted\"\\name": torch.ones(2),
    }
    # No metadata: safetensors serialises it from a hash map, in no fixed order.
    save_torch(writer, os.path.join(OUT, "writer_reference.safetensors"))

    # Rounding parity of float32 -> float16 / bfloat16 casts: normals, subnormals, ties,
    # overflow to infinity, signed zeros.
    source = np.concatenate([
        rng.standard_normal(200).astype(np.float32) * np.float32(10) ** rng.integers(-9, 6, 200).astype(np.float32),
        np.array([0.0, -0.0, 65504, 65519.99, 65520, 1e6, -1e6, 6e-8, 2.98e-8, 2.9802322e-8, 1e-40,
                  1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, float("inf"), float("-inf")],
                 dtype=np.float32),
    ]).astype(np.float32)
    source_t = torch.from_numpy(source)
    save_torch({"source": source_t, "f16": source_t.half(), "bf16": source_t.bfloat16()},
               os.path.join(OUT, "rounding.safetensors"))

    # .npy files as numpy writes them, and the float32 values numpy converts them to.
    arrays = {
        "f4": rng.standard_normal((2, 3)).astype("<f4"),
        "f8": rng.standard_normal((4,)).astype("<f8"),
        "f2": (rng.standard_normal((3, 2)) * 50).astype("<f2"),
        "i8": np.array([[-5, 0], [7, 1 << 30]], dtype="<i8"),
        "i4": np.arange(-3, 3, dtype="<i4").reshape(2, 3),
        "u1": np.array([0, 128, 255], dtype="|u1"),
        "b1": np.array([[True, False], [False, True]]),
        "scalar": np.array(3.25, dtype="<f4"),
        "empty": np.zeros((0, 4), dtype="<f4"),
        "rank4": rng.standard_normal((2, 1, 3, 2)).astype("<f4"),
    }
    for name, array in arrays.items():
        np.save(os.path.join(OUT, f"{name}.npy"), array)
    for version in [(2, 0), (3, 0)]:
        with open(os.path.join(OUT, f"v{version[0]}.npy"), "wb") as handle:
            np.lib.format.write_array(handle, arrays["f4"], version=version)
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(arrays["f4"]))
    np.save(os.path.join(OUT, "bigendian.npy"), arrays["f4"].astype(">f4"))
    # (np.ascontiguousarray would turn the 0-d array into shape (1,).)
    save_numpy({name: np.array(array, dtype=np.float32, order="C") for name, array in arrays.items()},
               os.path.join(OUT, "npy_expected.safetensors"))

    # Writer parity for .npy: Swift writes these float32 values and must match np.save.
    np.save(os.path.join(OUT, "written_by_numpy.npy"), np.arange(12, dtype=np.float32).reshape(3, 4) * np.float32(0.25))
    np.save(os.path.join(OUT, "written_by_numpy_1d.npy"), np.arange(5, dtype=np.float32) - 2)


if __name__ == "__main__":
    main()
