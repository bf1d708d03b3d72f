"""GAN objectives and discriminator remedies side by side on one task (docs/train.md, "When training goes wrong").

    python benchmarks/gan_options.py --steps 800 --parallel 2

Trains `recipes/cyclegan-stripes.toml` on the built-in `stripes` set once per configuration below —
everything else equal: data, seed, steps, schedule — and scores both directions on the 50 held-out
scenes with `i2i eval` (L1, PSNR against the ground-truth translation; copying the input is the
baseline). Beside the scores: the mean discriminator score gap D(real) − D(fake) over the last fifth
of the run (`score/*` columns of metrics.csv; how far ahead D is — its scale differs per objective,
compare within a row's objective only) and the wall time. Runs go two at a time with one thread each
(2 cores); the table is written to benchmarks/results/gan_options.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
I2I = [sys.executable, "-m", "i2i"]

# name → --set overrides on top of the stripes recipe (its objective is LSGAN).
CONFIGS: dict[str, list[str]] = {
    "lsgan (recipe)": [],
    "vanilla (non-saturating)": ["gan.objective=vanilla"],
    "hinge": ["gan.objective=hinge"],
    "wgan_gp (λ 10)": ["gan.objective=wgan_gp"],
    "ralsgan": ["gan.objective=ralsgan"],
    "lsgan + spectral norm in D": ["discriminator.spectral_norm=true"],
    "lsgan + R1 γ 1": ["gan.r1=1.0"],
    "lsgan + R1 γ 0.01": ["gan.r1=0.01"],
    "wgan_gp (λ 0.1)": ["gan.objective=wgan_gp", "gan.gradient_penalty=0.1"],
    "lsgan + DiffAugment (translation, cutout)": ["gan.augment=translation,cutout"],
}


def run(command: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)} — see {log}")


def score_gap(run_dir: Path) -> float:
    """Mean over the last fifth of the logged rows of Σ_disc (D(real) − D(fake)) / number of discriminators."""
    with (run_dir / "metrics.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("score/disc_a_real")]
    tail = rows[-max(1, len(rows) // 5):]
    gaps = [(float(r["score/disc_a_real"]) - float(r["score/disc_a_fake"])
             + float(r["score/disc_b_real"]) - float(r["score/disc_b_fake"])) / 2 for r in tail]
    return sum(gaps) / len(gaps)


def train_and_score(name: str, overrides: list[str], data: Path, out: Path, steps: int) -> dict:
    slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
    run_dir = out / slug
    command = [*I2I, "train", "cyclegan", "--recipe", "recipes/cyclegan-stripes.toml", "--data", str(data),
               "--out", str(run_dir), "--steps", str(steps), "--set", "log.sample_every=100000"]
    for item in overrides:
        command += ["--set", item]
    if not (run_dir / "checkpoints" / f"step_{steps:07d}.safetensors").is_file():  # finished runs are only rescored
        run(command, out / f"{slug}.train.log")
    with (run_dir / "metrics.csv").open() as handle:
        minutes = float(list(csv.DictReader(handle))[-1]["time"]) / 60   # the training loop's own clock
    scores = {}
    for target in ("striped", "plain"):
        json_path = out / f"{slug}.{target}.json"
        run([*I2I, "eval", str(run_dir), "--data", str(data), "--to", target, "--metrics", "l1,psnr",
             "--json", str(json_path)], out / f"{slug}.eval.log")
        scores[target] = json.loads(json_path.read_text())
    return {"name": name, "overrides": overrides, "minutes": minutes, "gap": score_gap(run_dir), "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "stripes")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "gan-options")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="names of CONFIGS to run (default: all)")
    parser.add_argument("--table", type=Path, default=ROOT / "benchmarks" / "results" / "gan_options.md")
    args = parser.parse_args()
    if not args.data.is_dir():
        run([*I2I, "data", "demo", "stripes", str(args.data), "--size", "32"], Path("/dev/null"))
    args.out.mkdir(parents=True, exist_ok=True)
    configs = {k: v for k, v in CONFIGS.items() if not args.only or k in args.only}
    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda item: train_and_score(*item, args.data, args.out, args.steps),
                                configs.items()))

    baseline = results[0]["scores"]["striped"]["baseline_copy_input"]
    lines = [f"# GAN objectives and D remedies on `stripes` (CycleGAN, {args.steps} steps each)", "",
             f"`python benchmarks/gan_options.py --steps {args.steps} --parallel {args.parallel}` — "
             f"{time.strftime('%Y-%m-%d')}, {args.parallel} runs at a time with one thread each on 2 CPU cores "
             "(minutes: each run's training loop, from metrics.csv). 50 held-out 32-px scenes; copying the input scores "
             f"L1 {baseline['l1']:.4f} / PSNR {baseline['psnr']:.2f} dB in both directions.", "",
             "| configuration | `--set` | plain → striped L1 / PSNR | striped → plain L1 / PSNR | "
             "D(real) − D(fake), last fifth | minutes |",
             "|---|---|---|---|---|---|"]
    for r in results:
        cells = [f"{r['scores'][t]['scores']['l1']:.4f} / {r['scores'][t]['scores']['psnr']:.2f} dB"
                 for t in ("striped", "plain")]
        flags = ", ".join(f"`{o}`" for o in r["overrides"]) or "—"
        lines.append(f"| {r['name']} | {flags} | {cells[0]} | {cells[1]} | {r['gap']:.3f} | {r['minutes']:.1f} |")
    text = "\n".join(lines) + "\n"
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
