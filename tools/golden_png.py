#!/usr/bin/env python3
"""Development tool: PNG files written by Pillow (an independent encoder) that PNGFile must decode.

Pixel (x, y) of every file is (16x, 16y, 8(x+y)) on a 16×12 image, stored in other PNG flavours: grey,
palette, RGBA; plus a text chunk. Run from the repository root: python3 tools/golden_png.py
"""
import os

from PIL import Image, PngImagePlugin

W, H = 16, 12
OUT = "Tests/DiffusionTests/Golden/png"


def pixel(x, y):
    return (16 * x, 16 * y, 8 * (x + y))


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = Image.new("RGB", (W, H))
    rgb.putdata([pixel(x, y) for y in range(H) for x in range(W)])
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red circle\nSteps: 10, Seed: 42")
    rgb.save(f"{OUT}/rgb.png", pnginfo=info)
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(f"{OUT}/palette.png")
    rgb.convert("L").save(f"{OUT}/grey.png")
    rgba = rgb.copy()
    rgba.putalpha(Image.new("L", (W, H), 255))
    rgba.save(f"{OUT}/rgba-opaque.png")


if __name__ == "__main__":
    main()
