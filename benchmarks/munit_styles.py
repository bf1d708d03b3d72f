"""Does a MUNIT model on the `styles` demo set produce many styles, and follow a reference style?

    python benchmarks/munit_styles.py RUN --data data/styles [--styles 5] [--limit 50] [--seed 0]
        [--out benchmarks/results/munit_styles.md] [--grid benchmarks/results/munit_styles.png]

The `styles` test split holds outline drawings and the same scenes painted in one of 5 palettes
(`painted/test/palettes.csv`). Appearance = colour mean and std per channel; palette centroids are the
mean appearance of each palette's *training* images. Measured on the held-out outlines:

1. Random styles (`--num-styles K --seed S`): mean pairwise L1 between the K outputs of one input
   (0 for a deterministic model), and how many different palettes (nearest centroid) they land on.
2. Reference style (`--style IMG`), one reference per palette (a test image of another scene):
   how often the output's nearest palette is the reference's (chance 1 in 5), and the distance to
   the reference palette's centroid against the mean distance to the other four.
3. Same-scene reference: with the painted version of the very scene as the style, the output should
   be that painting: L1 / PSNR against it, beside the outline itself (copying the input).

Prints a markdown table, writes it to --out, and a grid (inputs | K random styles | one output per
reference palette, references on top) to --grid.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import time
from pathlib import Path

import numpy as np
from appearance import appearance, nearest, read, save_grid, translate

from i2i.inference import codes as conditioning
from i2i.inference.backend import load_backend

ROOT = Path(__file__).resolve().parents[1]


def palettes(folder: Path) -> dict[str, int]:
    with (folder / "palettes.csv").open() as handle:
        return {row["file"]: int(row["palette"]) if row["palette"].isdigit() else row["palette"]
                for row in csv.DictReader(handle)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--styles", type=int, default=5)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/munit_styles.md")
    parser.add_argument("--grid", type=Path, default=ROOT / "benchmarks/results/munit_styles.png")
    args = parser.parse_args()
    started = time.monotonic()

    backend = load_backend(args.run, args.backend, to="painted")
    size, dim = backend.preprocess.size, int(backend.conditioning["code_dim"])
    train_palettes, test_palettes = palettes(args.data / "painted/train"), palettes(args.data / "painted/test")
    names = sorted(set(test_palettes.values()), key=str)
    centroids = np.stack([np.mean([appearance(read(args.data / "painted/train" / f))
                                   for f, p in train_palettes.items() if p == name], 0) for name in names])
    test_files = sorted(test_palettes)[:args.limit]
    outlines = [read(args.data / "outline/test" / f) for f in test_files]
    paintings = [read(args.data / "painted/test" / f) for f in test_files]

    # 1. random styles
    codes = conditioning.prior_codes(args.styles, dim, args.seed)
    random_outputs = [translate(backend.with_code(code), outlines) for code in codes]   # [style][image]
    pairwise, distinct = [], []
    for i in range(len(outlines)):
        outs = [random_outputs[k][i] for k in range(args.styles)]
        pairwise += [float(np.abs(a - b).mean()) for a, b in itertools.combinations(outs, 2)]
        distinct.append(len({nearest(appearance(o), centroids) for o in outs}))

    # 2. one reference per palette, each from a scene other than the input's
    references = {name: next(f for f in sorted(test_palettes) if test_palettes[f] == name) for name in names}
    hits, ratios, reference_outputs = [], [], {}
    for p, name in enumerate(names):
        code = conditioning.style_code(backend.encode, args.data / "painted/test" / references[name], size)
        outs = translate(backend.with_code(code), outlines)
        reference_outputs[name] = outs
        for i, out in enumerate(outs):
            if test_files[i] == references[name]:
                continue
            feature = appearance(out)
            distances = np.linalg.norm(centroids - feature, axis=1)
            hits.append(nearest(feature, centroids) == p)
            ratios.append(distances[p] / np.mean(np.delete(distances, p)))

    # 3. same-scene reference → that painting
    same_l1, copy_l1, same_psnr, copy_psnr = [], [], [], []
    for outline, painting, file in zip(outlines, paintings, test_files):
        code = conditioning.style_code(backend.encode, args.data / "painted/test" / file, size)
        out = translate(backend.with_code(code), [outline])[0]
        for l1s, psnrs, image in ((same_l1, same_psnr, out), (copy_l1, copy_psnr, outline)):
            mse = float(np.mean((image - painting) ** 2))
            l1s.append(float(np.abs(image - painting).mean()))
            psnrs.append(10 * math.log10(1 / max(mse, 1e-12)))

    rows = [
        ("random styles: mean pairwise L1 between the K outputs of one input", f"{np.mean(pairwise):.4f}",
         "0 (one output per input)"),
        ("random styles: distinct palettes among the K outputs (nearest centroid)",
         f"{np.mean(distinct):.2f} of {args.styles}", "1"),
        ("reference style: output's nearest palette = the reference's", f"{100 * np.mean(hits):.1f}%",
         f"{100 / len(names):.0f}% (chance)"),
        ("reference style: distance to its palette ÷ mean distance to the others", f"{np.mean(ratios):.3f}",
         "1.0 (no preference)"),
        ("same-scene reference: L1 to the painting", f"{np.mean(same_l1):.4f}", f"{np.mean(copy_l1):.4f} (copy input)"),
        ("same-scene reference: PSNR to the painting (dB)", f"{np.mean(same_psnr):.2f}",
         f"{np.mean(copy_psnr):.2f} (copy input)"),
    ]
    table = [f"MUNIT on `styles` ({len(outlines)} held-out outlines, {args.styles} random styles, seed {args.seed}; "
             f"{backend.description})", "", "| measure | model | baseline |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    table += ["", f"Command: `python benchmarks/munit_styles.py {args.run} --data {args.data}`; "
                  f"{time.monotonic() - started:.0f} s."]
    text = "\n".join(table) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)

    shown = range(min(6, len(outlines)))
    header = [None] * (1 + args.styles) + [read(args.data / "painted/test" / references[n]) for n in names]
    grid = [header] + [[outlines[i]] + [random_outputs[k][i] for k in range(args.styles)]
                       + [reference_outputs[n][i] for n in names] for i in shown]
    save_grid(args.grid, grid)
    print(f"grid: input | {args.styles} random styles | one output per reference (references on top) → {args.grid}")


if __name__ == "__main__":
    main()
