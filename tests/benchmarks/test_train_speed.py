"""benchmarks/train_speed.py in its smoke mode (tiny networks): every contender trains, the report has a
row for each, the reference-style CycleGAN step re-implemented there reproduces i2i's losses, and the
memory probe reports a peak. The timings themselves are the benchmark's business, not the test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "train_speed.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(SCRIPT), "--smoke", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def table_rows(report: str) -> dict[tuple[str, str], list[str]]:
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0] != "method":
            rows[(cells[0], cells[1])] = cells
    return rows


def test_smoke_run_reports_every_contender(tmp_path):
    out = tmp_path / "train_speed.md"
    # cyclegan: the reference-style contender; funit: R1's double backward beside compile.
    run_script("--methods", "cyclegan", "funit", "--configs", "eager", "channels_last", "compile", "bf16",
               "--compile-backend", "aot_eager", "--steps", "1", "--warmup", "1", "--no-memory", "--out", str(out))
    report = out.read_text()
    rows = table_rows(report)
    expected = {("cyclegan", "reference-style")} | {(m, c) for m in ("cyclegan", "funit")
                                                    for c in ("eager", "channels_last", "compile", "bf16")}
    assert set(rows) == expected, sorted(rows)
    assert report.startswith("# Training speed") and "python benchmarks/train_speed.py --smoke" in report
    # aot_eager changes no arithmetic: compile's first-step losses equal eager's exactly.
    assert float(rows[("cyclegan", "compile")][7]) == 0.0
    # The re-implemented reference step starts from i2i's weights and batch: the same losses, to rounding.
    assert float(rows[("cyclegan", "reference-style")][7]) < 1e-5
    assert "CycleGAN in the same run: reference-style step" in report


@pytest.mark.parametrize("config", ["eager", "reference-style"])
def test_memory_probe_reports_the_peak_of_a_fresh_process(config):
    result = run_script("--probe", "cyclegan", config)
    peak = json.loads(result.stdout.strip().splitlines()[-1])
    assert 100 < peak["rss_mib"] < 8000, peak
