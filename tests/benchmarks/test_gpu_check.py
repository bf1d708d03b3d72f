"""benchmarks/gpu_check.py in its CPU smoke mode: the same checks with tiny networks, the CUDA-only rows
marked `skipped: no CUDA`, the table printed and written with its command, exit status 0. (The real run
needs a GPU: see docs/benchmarks.md.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def run_smoke(out: Path, *args: str) -> dict[tuple[str, str], str]:
    """Run the script on the CPU; returns (group, check) → result of each table row."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--out", str(out), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = out.read_text()
    assert report.startswith("# GPU check (CPU smoke mode)") and "python benchmarks/gpu_check.py --device cpu" in report
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("group", "---"):
            rows[(cells[0], cells[1])] = cells[2]
    return rows


def test_training_and_resume_rows(tmp_path):
    # compile with dynamo's `eager` backend: torch.compile's code path, without code generation's minutes
    rows = run_smoke(tmp_path / "train.md", "--groups", "train", "resume", "--methods", "cyclegan",
                     "--compile-backend", "eager")
    assert rows == {
        ("train", "cyclegan fp16"): "skipped: no CUDA",
        ("train", "cyclegan bf16"): "ok",
        ("train", "cyclegan channels_last"): "ok",
        ("train", "cyclegan bf16+channels_last+compile"): "ok",
        ("resume", "cyclegan on cpu"): "ok",
    }


def test_translate_onnxruntime_and_throughput_rows(tmp_path):
    rows = run_smoke(tmp_path / "rest.md", "--groups", "translate", "onnxruntime", "throughput")
    assert rows[("translate", "pix2pix-shapes fp16 vs fp32 (cuda)")] == "skipped: no CUDA"
    assert rows[("translate", "pix2pix-shapes bf16 vs fp32 (cpu)")] == "ok"
    assert rows[("onnxruntime", "pix2pix-shapes CUDA provider vs torch fp32")] == "skipped: no CUDA"
    throughput = {name: result for (group, name), result in rows.items() if group == "throughput"}
    assert len(throughput) == 5 and set(throughput.values()) == {"ok"}, throughput


def test_torchrun_rows(tmp_path):
    rows = run_smoke(tmp_path / "torchrun.md", "--groups", "torchrun")
    assert rows == {("torchrun", "NCCL process group"): "skipped: no CUDA",
                    ("torchrun", "-m i2i train (gloo)"): "ok"}
