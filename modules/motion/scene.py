"""Draw the camera frames of the motion demo: a still room and a figure walking through it.

    .venv/bin/python modules/motion/scene.py [OUTDIR]   (default: src/wasmfleet/assets/scene)

Eight 320x240 JPEG frames, named frame-00.jpg ... frame-07.jpg, deterministic (no random
numbers): the room (wall, floor, window, door, a plant) never changes, and a figure (head
and body) walks from the left to the right edge. The simulated camera serves them in name
order, round robin, so consecutive frames differ exactly where the figure moved — what
``modules/motion`` detects and crops. Checked in, so demos and tests need no Pillow run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 320, 240
FRAMES = 8


def room() -> Image.Image:
    """The still part of the scene."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (196, 188, 170))
    draw = ImageDraw.Draw(image)
    for y in range(0, 160):  # the wall darkens a little towards the ceiling
        shade = 150 + y // 4
        draw.line([(0, y), (WIDTH, y)], fill=(shade + 30, shade + 24, shade + 8))
    draw.rectangle([0, 160, WIDTH, HEIGHT], fill=(120, 96, 72))  # floor
    draw.rectangle([24, 40, 104, 110], fill=(150, 190, 220), outline=(90, 80, 70), width=4)
    draw.line([(64, 40), (64, 110)], fill=(90, 80, 70), width=3)  # window cross
    draw.line([(24, 75), (104, 75)], fill=(90, 80, 70), width=3)
    draw.rectangle([236, 60, 292, 160], fill=(110, 80, 50), outline=(70, 50, 30), width=3)
    draw.ellipse([280, 108, 286, 114], fill=(210, 180, 60))  # door knob
    draw.rectangle([140, 140, 160, 160], fill=(160, 90, 60))  # plant pot
    draw.ellipse([128, 104, 172, 144], fill=(60, 130, 60))
    return image


def figure(draw: ImageDraw.ImageDraw, x: int) -> None:
    """A person seen from the side, feet on the floor, centred on column ``x``."""
    draw.ellipse([x - 11, 92, x + 11, 114], fill=(224, 180, 150))  # head
    draw.rectangle([x - 14, 114, x + 14, 168], fill=(40, 60, 140))  # body
    draw.rectangle([x - 12, 168, x - 3, 204], fill=(30, 30, 40))  # legs
    draw.rectangle([x + 3, 168, x + 12, 204], fill=(30, 30, 40))


def frames() -> list[Image.Image]:
    """The eight frames, the figure 36 px further right in each."""
    out = []
    for i in range(FRAMES):
        image = room()
        figure(ImageDraw.Draw(image), 30 + 36 * i)
        out.append(image)
    return out


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    folder = Path(argv[0]) if argv else root / "src" / "wasmfleet" / "assets" / "scene"
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames()):
        image.save(folder / f"frame-{i:02d}.jpg", quality=85)
    print(f"wrote {FRAMES} frames to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
