"""Generates the small calibration-data fixtures under testdata/calib/ (numpy + pillow only).

Run from the repo root:  .venv-gen/bin/python testdata/generate_calib.py

Outputs (all tiny, deterministic):
  two_inputs.npz             a: float32 [6,4], b: int64 [6,3]   (np.savez, stored)
  two_inputs_compressed.npz  same arrays, np.savez_compressed (deflate)
  counts_mismatch.npz        a: float32 [6,4], b: int64 [5,3]
  v2_header.npy              float32 [3,2] written with format version 2.0
  f64.npy                    float64 [3,2]
  mixed_images/              c_gray.png (8x8 L), a_rgba.png (24x40 RGBA), b_rgb.jpg (16x16 RGB), notes.txt
  mixed_rgb_12x10.npy        float32 [3,12,10,3]: mixed_images in name order, RGB, bilinear to 12x10, /255
  mixed_gray_12x10.npy       float32 [3,12,10,1]: same, converted with PIL convert("L")
  images_channel_means.npy   float64 [8,3]: per-channel mean of testdata/images/*.png / 255
  digit_channel_means.npy    float64 [3]:   per-channel mean of testdata/digit.jpg / 255 (PIL/libjpeg decode)
"""
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "calib")


def bilinear_half_pixel(img, out_h, out_w):
    """HWC float bilinear resize, half-pixel centers, edge clamp, no antialias (tf.image.resize bilinear)."""
    in_h, in_w = img.shape[:2]

    def taps(n_in, n_out):
        pos = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo)

    y0, y1, fy = taps(in_h, out_h)
    x0, x1, fx = taps(in_w, out_w)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(4)

    a = (np.arange(24, dtype=np.float32).reshape(6, 4) / 10).astype(np.float32)
    b = np.arange(18, dtype=np.int64).reshape(6, 3) * 7
    np.savez(os.path.join(OUT, "two_inputs.npz"), a=a, b=b)
    np.savez_compressed(os.path.join(OUT, "two_inputs_compressed.npz"), a=a, b=b)
    np.savez(os.path.join(OUT, "counts_mismatch.npz"), a=a, b=b[:5])

    with open(os.path.join(OUT, "v2_header.npy"), "wb") as f:
        np.lib.format.write_array(f, np.arange(6, dtype=np.float32).reshape(3, 2), version=(2, 0))
    np.save(os.path.join(OUT, "f64.npy"), np.arange(6, dtype=np.float64).reshape(3, 2) / 4)

    folder = os.path.join(OUT, "mixed_images")
    os.makedirs(folder, exist_ok=True)
    images = {
        "a_rgba.png": Image.fromarray(rng.integers(0, 256, (24, 40, 4), dtype=np.uint8), "RGBA"),
        "b_rgb.jpg": Image.fromarray(
            np.kron(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), np.ones((4, 4, 1), dtype=np.uint8)), "RGB"
        ),
        "c_gray.png": Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L"),
    }
    for name, img in images.items():
        img.save(os.path.join(folder, name), **({"quality": 95} if name.endswith(".jpg") else {}))
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image; ignored by the loader\n")

    rgb, gray = [], []
    for name in sorted(images):
        img = Image.open(os.path.join(folder, name))
        rgb_img = img.convert("RGB")
        rgb.append(bilinear_half_pixel(np.asarray(rgb_img, dtype=np.float64), 12, 10) / 255)
        gray_px = np.asarray(rgb_img.convert("L"), dtype=np.float64)[:, :, None]
        gray.append(bilinear_half_pixel(gray_px, 12, 10) / 255)
    np.save(os.path.join(OUT, "mixed_rgb_12x10.npy"), np.stack(rgb).astype(np.float32))
    np.save(os.path.join(OUT, "mixed_gray_12x10.npy"), np.stack(gray).astype(np.float32))

    pngs = sorted(os.listdir(os.path.join(HERE, "images")))
    means = [
        np.asarray(Image.open(os.path.join(HERE, "images", p)).convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) / 255
        for p in pngs
    ]
    np.save(os.path.join(OUT, "images_channel_means.npy"), np.stack(means))
    digit = np.asarray(Image.open(os.path.join(HERE, "digit.jpg")).convert("RGB"), dtype=np.float64)
    np.save(os.path.join(OUT, "digit_channel_means.npy"), digit.mean(axis=(0, 1)) / 255)


if __name__ == "__main__":
    main()
