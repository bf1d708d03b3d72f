"""Flicker of frame-by-frame translation, and what `--temporal-smoothing A` and `--norm-smoothing A` do.

    python benchmarks/video_flicker.py [--frames 48] [--height 144] [--noise 4]
        [--alphas 0.5 0.7 0.9] [--norm-alphas 0.9] [--out benchmarks/results/video_flicker.md]

Clip: `i2i data demo clip` — a camera pan over scikit-image's `coffee` photograph, 24 frames/s,
Gaussian sensor noise of σ NOISE (0…255) drawn afresh every frame, x264 CRF 17. Noise and content
entering the frame change every frame's InstanceNorm statistics: that is what flickers.

Models: the released InstanceNorm checkpoints in weights/ — pix2pix-shapes (U-Net, InstanceNorm),
cyclegan-stripes plain→striped (ResNet, InstanceNorm), munit-styles outline→painted (InstanceNorm in
the content encoder, AdaIN in the decoder; one random style, seed 0, for the whole clip).

For each model, the clip is translated as `i2i translate` does (`translate_clip`, torch backend) per
frame (none), with `--temporal-smoothing A` (outputs blended along the input's optical flow where it
explains the input) and with `--norm-smoothing A` (InstanceNorm/AdaIN statistics averaged over frames);
the numbers are translate's (inference/temporal.py), computed here from the written clip over every
pair of frames (translate itself samples the flow on every 4th pair):
- change ratio: output frame-to-frame change / input frame-to-frame change (1: moves as the input);
- warped error: mean |O_t − W(O_{t−1})| with W the input's optical flow (Farnebäck), beside the
  input's own (what flow and noise leave anyway). `--temporal-smoothing` warps with the same kind of
  flow (at 512 px, the metric at 256 px), so this number favours it: read the change ratio beside it;
- vs per-frame: PSNR of the smoothed clip's frames against the per-frame clip's (how much the
  remedy changes each frame's look; ∞ for A = none).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from i2i.data.demo.clip import make_clip  # noqa: E402
from i2i.inference.backend import load_backend  # noqa: E402
from i2i.inference.jobs import Job  # noqa: E402
from i2i.inference.temporal import FlickerMeter  # noqa: E402
from i2i.inference.variants import conditioned_variants  # noqa: E402
from i2i.inference.video import translate_clip  # noqa: E402
from i2i.inference.video_io import VideoOptions  # noqa: E402

MODELS = (("pix2pix-shapes", "weights/pix2pix-shapes.safetensors", None),
          ("cyclegan-stripes", "weights/cyclegan-stripes.safetensors", "striped"),
          ("munit-styles", "weights/munit-styles.safetensors", "painted"))


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    mse = np.mean([np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2) for x, y in zip(a, b, strict=True)])
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def measure(model: str, to: str | None, clip: Path, options: VideoOptions, out: Path) -> tuple[object, Path]:
    backend = load_backend(ROOT / model, to=to, norm_smoothing=options.norm_smoothing)
    name = f"{Path(model).stem}-{options.temporal_smoothing}-{options.norm_smoothing}.mp4"
    (bound, [job]), = conditioned_variants(backend, [Job(clip, out / name, video=True)], seed=0)
    result = translate_clip(bound, job, options, batch_size=4)
    if result.error is not None:
        raise SystemExit(result.error)
    return result.flicker, job.target


def every_pair(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> object:
    """The flicker numbers over every pair of frames of the written clip (translate samples the flow
    on every 4th pair to stay cheap)."""
    meter = FlickerMeter(flow_every=1)
    for source, output in zip(inputs, outputs, strict=True):
        meter.add(source, output)
    return meter.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--height", type=int, default=144)
    parser.add_argument("--noise", type=float, default=4.0)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.7, 0.9])
    parser.add_argument("--norm-alphas", type=float, nargs="*", default=[0.9])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video_flicker.md")
    args = parser.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        clip = make_clip(scratch, frames=args.frames, width=width, height=args.height, noise=args.noise)
        remedies = [("none", VideoOptions())]
        remedies += [(f"--temporal-smoothing {a:g}", VideoOptions(temporal_smoothing=a)) for a in args.alphas]
        remedies += [(f"--norm-smoothing {a:g}", VideoOptions(norm_smoothing=a)) for a in args.norm_alphas]
        for name, model, to in MODELS:
            plain_frames = None
            for label, options in remedies:
                _, written = measure(model, to, clip, options, scratch)
                frames = frames_of(written)
                flicker = every_pair(frames_of(clip), frames)
                plain_frames = plain_frames or frames
                rows.append((name, label, flicker, psnr(frames, plain_frames)))
                print(f"{name} {label}: {flicker.describe()}", flush=True)
    lines = [f"Command: `python benchmarks/video_flicker.py {shlex.join(sys.argv[1:])}`".rstrip(),
             "",
             f"Clip: `i2i data demo clip` pan over coffee.png, {args.frames} frames of {width}×{args.height}, "
             f"noise σ {args.noise:g}; input warped error {rows[0][2].input_warped_error:.4f}.",
             "",
             "| model | remedy | change ratio | warped error | vs per-frame (PSNR dB) |",
             "|---|---|---|---|---|"]
    for name, alpha, flicker, similarity in rows:
        lines.append(f"| {name} | {alpha} | {flicker.change_ratio:.3f} | {flicker.warped_error:.4f} | "
                     f"{'—' if similarity == float('inf') else f'{similarity:.1f}'} |")
    table = "\n".join(lines)
    print(table)
    args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
