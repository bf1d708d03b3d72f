"""The README's video frame strip: the demo clip through the released ×4 SR model, input | output.

    python benchmarks/video_strip.py [--out docs/video-strip.png]

Runs `i2i data demo clip DIR --frames 24 --size 72` (128×72, a noisy pan over a real photo) and
`i2i translate weights/srresnet-x4-photos.safetensors DIR/pan.mp4 --out OUT` — the commands a user
types — then puts frames 0, 12 and 23 of the input (scaled ×4 with nearest neighbour, to show its
pixels) beside the same frames of the translated clip (512×288).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "video-strip.png")
    args = parser.parse_args()
    i2i = [sys.executable, "-m", "i2i"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        subprocess.run([*i2i, "data", "demo", "clip", str(scratch / "clip"), "--frames", "24", "--size", "72"],
                       check=True, cwd=ROOT)
        subprocess.run([*i2i, "translate", str(ROOT / "weights" / "srresnet-x4-photos.safetensors"),
                        str(scratch / "clip" / "pan.mp4"), "--out", str(scratch / "out")], check=True, cwd=ROOT)
        inputs, outputs = frames(scratch / "clip" / "pan.mp4"), frames(scratch / "out" / "pan.mp4")
    rows = []
    for index in (0, 12, 23):
        big = np.asarray(Image.fromarray(inputs[index]).resize(outputs[index].shape[1::-1], Image.NEAREST))
        rows.append(np.concatenate([big, np.full((big.shape[0], 8, 3), 255, np.uint8), outputs[index]], 1))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    Image.fromarray(np.concatenate(rows[:-1], 0)).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
