"""Quality of each method after a fixed CPU budget on its built-in demo set, against its baselines.

    python benchmarks/quality.py [--minutes 5] [--out benchmarks/results/quality.md] [--methods pix2pix cyclegan srgan]

For each method: make its demo data (`i2i data demo …`), time 20 training steps of its demo recipe to
measure seconds per step on this machine, then train a fresh run with as many steps as fit in the
budget (the recipe's learning-rate schedule is spread over those steps), and score the held-out split
with `i2i eval --json`. Every number is printed beside its baseline (copy the input; bicubic for
super-resolution). Distribution metrics (FID/KID/IS) and LPIPS are added when their weights are
available (`--feature-weights`, `--lpips-weights` or the environment variables; see
docs/eval.md); otherwise the table says they were not computed. Writes a markdown table and prints it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# method → (demo data command args, recipe, train args, eval runs as (label, extra eval args))
METHODS: dict[str, tuple[list[str], str, list[str], list[tuple[str, list[str]]]]] = {
    "pix2pix": (["shapes"], "recipes/pix2pix-shapes.toml", [], [("shapes A→B", [])]),
    "cyclegan": (["stripes", "--size", "32"], "recipes/cyclegan-stripes.toml", [],
                 [("stripes plain→striped", ["--to", "striped"]), ("stripes striped→plain", ["--to", "plain"])]),
    "srgan": (["photos"], "recipes/srresnet-photos.toml", [], [("photos ×4 (Y, border 4)", [])]),
}


def i2i(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "i2i", *args], check=True, capture_output=True, text=True, cwd=ROOT)


def seconds_per_step(method: str, recipe: str, data: Path, scratch: Path) -> float:
    """Wall time of steps 11-20 of a throwaway run (the first steps include start-up, warm-up and,
    for super-resolution, the first decoding of every photo)."""
    run = scratch / f"{method}-timing"
    i2i("train", method, "--recipe", recipe, "--data", str(data), "--out", str(run), "--steps", "20",
        "--set", "log.log_every=1", "--set", "log.sample_every=1000", "--set", "log.checkpoint_every=1000")
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    times = {int(r.split(",")[0]): float(r.split(",")[1]) for r in rows}
    return (times[20] - times[10]) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per method")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.md")
    parser.add_argument("--eval-args", default="", help="extra arguments for every i2i eval (e.g. weights)")
    args = parser.parse_args()

    lines = [f"Budget: {args.minutes:g} min of training per method on this machine; held-out test splits.", "",
             "| method | task | steps (s/step) | train time | model | baseline | metrics not computed |",
             "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for method in args.methods:
            demo, recipe, train_args, evals = METHODS[method]
            data = scratch / f"data-{method}"
            i2i("data", "demo", demo[0], str(data), *demo[1:])
            per_step = seconds_per_step(method, recipe, data, scratch)
            steps = max(10, int(args.minutes * 60 / per_step))
            run = scratch / method
            started = time.perf_counter()
            i2i("train", method, "--recipe", recipe, "--data", str(data), "--out", str(run), "--steps", str(steps),
                *train_args)
            trained = time.perf_counter() - started
            for label, extra in evals:
                result_path = scratch / f"{method}-{len(lines)}.json"
                i2i("eval", str(run), "--data", str(data), "--json", str(result_path), *extra,
                    *args.eval_args.split())
                result = json.loads(result_path.read_text())
                model, baseline = result["scores"], result.get("baseline_copy_input") or result["baseline_bicubic"]
                shown = ", ".join(f"{k} {v:.4g}" for k, v in model.items() if isinstance(v, float))
                base = ", ".join(f"{k} {v:.4g}" for k, v in baseline.items() if isinstance(v, float))
                skipped = "; ".join(result.get("not_computed", {})) or "—"
                lines.append(f"| {method} | {label} | {steps} ({per_step:.2f}) | {trained / 60:.1f} min | "
                             f"{shown} | {base} | {skipped} |")
                print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
