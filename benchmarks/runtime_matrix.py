"""Every exported graph in every runtime: max |runtime − PyTorch| per graph and runtime.

    python benchmarks/runtime_matrix.py [--out benchmarks/results/runtime_matrix.md]
                                        [--opencv4-python .venv-opencv4/bin/python]

Exports the released checkpoints in weights/ (pix2pix, CycleGAN, SRResNet, MUNIT and FUNIT with their
style/class encoders) with `i2i export`, feeds each graph seeded random inputs (batch 2 at a non-square
size for the generators, 3 reference images for the encoders) and compares what each runtime returns
with the PyTorch module the graph was exported from:

- onnxruntime (CPU), onnx's ReferenceEvaluator (the ONNX specification in numpy);
- onnxruntime-web (wasm, one thread) in Node, from examples/web/node_modules (`make web-example`);
- OpenCV DNN 5.x, new engine and ENGINE_CLASSIC (the cv2 in this environment);
- OpenCV DNN 4.x in its own virtual environment (numpy + opencv-python-headless 4.14 only; `make test`
  builds .venv-opencv4), through examples/opencv/translate_opencv.py's load_net/run.

tests/export/test_runtime_matrix.py runs the same code and requires every float32 entry ≤ 1e-4. The
int8 files of the three single-graph models are added to the table (against PyTorch's float32 output;
reported, not required).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ("pix2pix-shapes", "cyclegan-stripes", "srresnet-x4-photos", "munit-styles", "funit-classes")
OPENCV_EXAMPLE = ROOT / "examples" / "opencv"
WEB = ROOT / "examples" / "web"
NODE_RUNNER = Path(__file__).with_name("runtime_matrix_web.mjs")
DEFAULT_OPENCV4 = ROOT / ".venv-opencv4" / "bin" / "python"
RUNTIMES = ("onnxruntime", "reference", "onnxruntime-web", "opencv5-new", "opencv5-classic", "opencv4")


@dataclass
class GraphCase:
    """One exported graph, its inputs and what PyTorch computes on them."""

    name: str
    path: Path
    inputs: dict[str, np.ndarray]
    expected: np.ndarray
    results: dict[str, float | str] = field(default_factory=dict)   # runtime → max |diff|, or why not


def export_cases(folder: Path) -> list[GraphCase]:
    """Export every released checkpoint into `folder` and build its graph cases (torch references)."""
    import torch

    from i2i.checkpoint import load_checkpoint
    from i2i.export.onnx import export_onnx
    from i2i.inference.codes import CodeKind, code_kind
    from i2i.inference.deployed import CodeEncoderModel, InferenceModel

    rng = np.random.default_rng(0)
    cases = []
    for name in WEIGHTS:
        weights = ROOT / "weights" / f"{name}.safetensors"
        report = export_onnx(weights, folder / f"{name}.onnx")  # the file may be there: export replaces it
        checkpoint = load_checkpoint(weights)
        preprocess = checkpoint.preprocess
        batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
        network = InferenceModel(checkpoint.generator(report.direction), preprocess, batchnorm).eval()
        m = preprocess.multiple_of
        side = max(2 * m, 32 // preprocess.scale)
        image = rng.random((2, 3, side, side + m)).astype(np.float32)
        kind = code_kind(checkpoint.header)
        with torch.no_grad():
            if kind is None:
                cases.append(GraphCase(name, report.path, {"image": image}, network(torch.from_numpy(image)).numpy()))
                continue
            dim = int(checkpoint.header["conditioning"]["code_dim"])
            code = rng.standard_normal((2, dim)).astype(np.float32)
            expected = network(torch.from_numpy(image), torch.from_numpy(code)).numpy()
            cases.append(GraphCase(name, report.path, {"image": image, f"{kind}_code": code}, expected))
            references = rng.random((3, 3, 32, 40)).astype(np.float32)
            encoder = CodeEncoderModel(network, average=kind == CodeKind.CLASS).eval()
            cases.append(GraphCase(f"{name} {kind} encoder", report.code_encoder, {"image": references},
                                   encoder(torch.from_numpy(references)).numpy()))
    return cases


def int8_cases(folder: Path) -> list[GraphCase]:
    """The int8 files (`--quantize int8`) of the single-graph released models, calibrated on 4 crops of
    scikit-image's photos, with seeded inputs and PyTorch's float32 output: reported, not required
    (int8 is an approximation: what a runtime does with QDQ is its own business)."""
    import torch
    from PIL import Image

    from i2i.checkpoint import load_checkpoint
    from i2i.data.demo.photos import skimage_data_dir
    from i2i.export.onnx import export_onnx
    from i2i.inference.deployed import InferenceModel

    calibration = folder / "calibration"
    calibration.mkdir(parents=True, exist_ok=True)
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"):
        Image.open(skimage_data_dir() / name).convert("RGB").resize((128, 96)).save(calibration / f"{name}.png")
    rng = np.random.default_rng(1)
    cases = []
    for name in WEIGHTS[:3]:
        weights = ROOT / "weights" / f"{name}.safetensors"
        report = export_onnx(weights, folder / f"{name}.onnx", quantize="int8", calibration=calibration)
        checkpoint = load_checkpoint(weights)
        preprocess = checkpoint.preprocess
        batchnorm = checkpoint.header.get("inference", {}).get("batchnorm", "per_image")
        network = InferenceModel(checkpoint.generator(report.direction), preprocess, batchnorm).eval()
        side = max(2 * preprocess.multiple_of, 32 // preprocess.scale)
        image = rng.random((2, 3, side, side + preprocess.multiple_of)).astype(np.float32)
        with torch.no_grad():
            expected = network(torch.from_numpy(image)).numpy()
        cases.append(GraphCase(f"{name} int8", report.quantized.path, {"image": image}, expected))
    return cases


def _difference(actual: np.ndarray, expected: np.ndarray) -> float | str:
    if actual.size != expected.size:
        return f"shape {tuple(actual.shape)} ≠ {tuple(expected.shape)}"
    return float(np.abs(actual.reshape(expected.shape) - expected).max())


def run_onnxruntime(case: GraphCase) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(case.path), providers=["CPUExecutionProvider"])
    return session.run(None, case.inputs)[0]


def run_reference(case: GraphCase) -> np.ndarray:
    import onnx
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(onnx.load(str(case.path))).run(None, case.inputs)[0]


def run_opencv5(case: GraphCase, engine: str) -> np.ndarray:
    import cv2

    if not hasattr(cv2.dnn, "ENGINE_CLASSIC"):
        raise RuntimeError(f"this environment's OpenCV is {cv2.__version__}, not 5.x")
    sys.path.insert(0, str(OPENCV_EXAMPLE))
    try:
        from translate_opencv import load_net, run
    finally:
        sys.path.remove(str(OPENCV_EXAMPLE))
    return run(load_net(case.path, engine), case.inputs)


def run_in_subprocess(cases: list[GraphCase], command: list[str], scratch: Path, runtime: str) -> None:
    """Run every case in another process (OpenCV 4.x's venv, or Node): inputs and outputs as raw
    float32 files described by a JSON list; the process writes each output or its error."""
    jobs = []
    for i, case in enumerate(cases):
        inputs = {}
        for name, value in case.inputs.items():
            file = scratch / f"{i}.{name}.bin"
            value.astype(np.float32).tofile(file)
            inputs[name] = {"shape": list(value.shape), "file": str(file)}
        jobs.append({"model": str(case.path), "inputs": inputs, "output_file": str(scratch / f"{i}.out.bin"),
                     "error_file": str(scratch / f"{i}.error.txt")})
    (scratch / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run([*command, str(scratch / "jobs.json")], capture_output=True, text=True, timeout=900,
                          check=False)
    for case, job in zip(cases, jobs):
        output, error = Path(job["output_file"]), Path(job["error_file"])
        if output.exists():
            case.results[runtime] = _difference(np.fromfile(output, np.float32), case.expected)
        else:
            reason = error.read_text() if error.exists() else (done.stderr.strip() or "no output")
            case.results[runtime] = "fails: " + reason.strip().splitlines()[-1][:160]


OPENCV4_DRIVER = """
import json, sys, traceback
import numpy as np
sys.path.insert(0, {example!r})
from translate_opencv import load_net, run
for job in json.load(open(sys.argv[1])):
    try:
        inputs = {{k: np.fromfile(v["file"], np.float32).reshape(v["shape"]) for k, v in job["inputs"].items()}}
        run(load_net(job["model"]), inputs).astype(np.float32).tofile(job["output_file"])
    except Exception as error:
        open(job["error_file"], "w").write(str(error).replace("\\n", " "))
"""


def run_matrix(cases: list[GraphCase], scratch: Path, opencv4_python: Path | None) -> list[GraphCase]:
    """Fill every case's `results` for every runtime (a string says why a runtime did not run it)."""
    in_process = {"onnxruntime": run_onnxruntime, "reference": run_reference,
                  "opencv5-new": lambda c: run_opencv5(c, "new"),
                  "opencv5-classic": lambda c: run_opencv5(c, "classic")}
    for case in cases:
        for runtime, run in in_process.items():
            try:
                case.results[runtime] = _difference(run(case), case.expected)
            except Exception as error:  # noqa: BLE001 - each runtime's own error types
                case.results[runtime] = "fails: " + str(error).replace("\n", " ")[-160:]
    node = shutil.which("node")
    if node and (WEB / "node_modules" / "onnxruntime-web").is_dir():
        (scratch / "web").mkdir()
        run_in_subprocess(cases, [node, str(NODE_RUNNER), str(WEB / "package.json")], scratch / "web",
                          "onnxruntime-web")
    else:
        for case in cases:
            case.results["onnxruntime-web"] = "not run: needs node and examples/web/node_modules (make web-example)"
    if opencv4_python is not None and opencv4_python.exists():
        (scratch / "cv4").mkdir()
        driver = scratch / "cv4" / "driver.py"
        driver.write_text(OPENCV4_DRIVER.format(example=str(OPENCV_EXAMPLE)))
        run_in_subprocess(cases, [str(opencv4_python), str(driver)], scratch / "cv4", "opencv4")
    else:
        for case in cases:
            case.results["opencv4"] = f"not run: no OpenCV 4.x environment at {opencv4_python}"
    return cases


def opencv_versions(opencv4_python: Path | None) -> dict[str, str]:
    import cv2

    versions = {"opencv5": cv2.__version__}
    if opencv4_python is not None and opencv4_python.exists():
        versions["opencv4"] = subprocess.run([str(opencv4_python), "-c", "import cv2; print(cv2.__version__)"],
                                             capture_output=True, text=True, check=True).stdout.strip()
    return versions


def table(cases: list[GraphCase], versions: dict[str, str]) -> str:
    heads = {"opencv5-new": f"OpenCV {versions.get('opencv5', '5')} new", "opencv4": f"OpenCV {versions.get('opencv4', '4.x')}",
             "opencv5-classic": f"OpenCV {versions.get('opencv5', '5')} classic"}
    lines = ["| graph | " + " | ".join(heads.get(r, r) for r in RUNTIMES) + " |",
             "|---|" + "---|" * len(RUNTIMES)]
    for case in cases:
        cells = [f"{v:.1e}" if isinstance(v, float) else str(v) for v in (case.results.get(r, "-") for r in RUNTIMES)]
        lines.append(f"| {case.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "runtime_matrix.md")
    parser.add_argument("--opencv4-python", type=Path, default=DEFAULT_OPENCV4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        graphs = export_cases(Path(scratch)) + int8_cases(Path(scratch) / "int8")
        cases = run_matrix(graphs, Path(scratch), args.opencv4_python)
        text = table(cases, opencv_versions(args.opencv4_python))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("Max |runtime − PyTorch| on [0, 1] outputs (`python benchmarks/runtime_matrix.py`):\n\n"
                        + text + "\n")
    print(text)


if __name__ == "__main__":
    main()
