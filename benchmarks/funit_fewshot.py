"""Does a FUNIT model move images towards a class it never saw, from K = 1 and K = 5 examples?

    python benchmarks/funit_fewshot.py RUN --data data/classes [--shots 1 5] [--contents 48]
        [--out benchmarks/results/funit_fewshot.md] [--grid benchmarks/results/funit_fewshot.png]

On the `classes` demo set (12 training classes in train/, 4 held out in unseen/). Appearance = colour
mean and std per channel; a class centroid is the mean appearance of its images (for a held-out class,
those not used as the K examples). Content images are spread over the training classes. For each
held-out class and K, the class code is the mean over its first K images (`--class-images` with K
files), and on the translated contents we measure:

- distance from the output's appearance to the target centroid, beside the input's distance (the
  untranslated content) — lower is closer to the class;
- how often the output's nearest centroid among all 16 classes is the target (chance 1 in 16).

Prints a markdown table, writes it to --out and a grid (per held-out class: its first example on top,
then for each content: input | K = 1 | K = 5) to --grid.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from appearance import appearance, nearest, read, save_grid, translate

from i2i.data.classes import find_class_folders
from i2i.inference import codes as conditioning
from i2i.inference.backend import load_backend

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--contents", type=int, default=48)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/funit_fewshot.md")
    parser.add_argument("--grid", type=Path, default=ROOT / "benchmarks/results/funit_fewshot.png")
    args = parser.parse_args()
    started = time.monotonic()

    backend = load_backend(args.run, args.backend)
    size = backend.preprocess.size
    seen, unseen = find_class_folders(args.data, "train"), find_class_folders(args.data, "test")
    classes = {**seen, **unseen}
    names = list(classes)
    examples = max(args.shots)
    # Centroids from images never used as content or as examples.
    per_class = max(1, args.contents // len(seen))
    centroid = {name: np.mean([appearance(read(p)) for p in (files[examples:] if name in unseen else files[per_class:])][:100], 0)
                for name, files in classes.items()}
    centroids = np.stack([centroid[n] for n in names])
    contents = [read(p) for files in seen.values() for p in files[:per_class]]

    rows, grid_rows = [], []
    held_out = np.stack([centroid[n] for n in unseen])
    for u, (target, files) in enumerate(unseen.items()):
        t = names.index(target)
        input_distance = np.mean([np.linalg.norm(appearance(c) - centroid[target]) for c in contents])
        row = {"class": target, "input": input_distance,
               "hit_input": np.mean([nearest(appearance(c), centroids) == t for c in contents])}
        outputs = {}
        for k in args.shots:
            code = conditioning.class_code(backend.encode, files[:k], size)
            outs = translate(backend.with_code(code), contents)
            outputs[k] = outs
            features = [appearance(o) for o in outs]
            row[f"d{k}"] = np.mean([np.linalg.norm(f - centroid[target]) for f in features])
            row[f"hit{k}"] = np.mean([nearest(f, centroids) == t for f in features])
            row[f"held{k}"] = np.mean([nearest(f, held_out) == u for f in features])
        rows.append(row)
        grid_rows.append([read(files[0])] + [None] * (len(args.shots)))
        for i in range(0, len(contents), max(1, len(contents) // 3))[:3]:
            grid_rows.append([contents[i]] + [outputs[k][i] for k in args.shots])

    shots = args.shots
    table = [f"FUNIT few-shot on held-out classes ({len(contents)} contents from {len(seen)} training classes, "
             f"{backend.description})", "",
             "| held-out class | distance to class: input | " + " | ".join(f"K = {k}" for k in shots)
             + " | nearest class = target: input | " + " | ".join(f"K = {k}" for k in shots)
             + " | nearest held-out class = target: " + " | ".join(f"K = {k}" for k in shots) + " |",
             "|---|---|" + "---|" * (3 * len(shots) + 1)]
    for row in rows + [{"class": "**mean**", **{key: np.mean([r[key] for r in rows]) for key in rows[0] if key != "class"}}]:
        table.append(f"| {row['class']} | {row['input']:.3f} | " + " | ".join(f"{row[f'd{k}']:.3f}" for k in shots)
                     + f" | {100 * row['hit_input']:.0f}% | " + " | ".join(f"{100 * row[f'hit{k}']:.0f}%" for k in shots)
                     + " | " + " | ".join(f"{100 * row[f'held{k}']:.0f}%" for k in shots) + " |")
    table += ["", f"Chance: {100 / len(names):.1f}% for the nearest of all {len(names)} classes, "
                  f"{100 / len(unseen):.0f}% for the nearest of the {len(unseen)} held-out classes.",
              f"Command: `python benchmarks/funit_fewshot.py {args.run} --data {args.data}`; "
              f"{time.monotonic() - started:.0f} s."]
    text = "\n".join(table) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    # Held-out classes side by side: each block of columns is one class.
    blocks = [grid_rows[i:i + 4] for i in range(0, len(grid_rows), 4)]
    merged = [[tile for block in blocks for tile in block[r] + [None]] for r in range(4)]
    save_grid(args.grid, merged)
    print("grid: per held-out class (first example on top) input | " + " | ".join(f"K = {k}" for k in shots)
          + f" → {args.grid}")


if __name__ == "__main__":
    main()
