"""examples/web: the page translates in headless Chromium (onnxruntime-web, wasm, one thread) what
onnxruntime computes in Python. Needs /usr/bin/chromium (Debian's `chromium`), Playwright for Python
(dev extras) and examples/web/node_modules (`make web-example`); a missing one fails the test, unless
I2I_SKIP_BROWSER=1 says to skip it."""

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from PIL import Image

from tests.examples.test_examples import model, save_plain_onnx  # noqa: F401 (model: the session's exported ONNX fixture)

WEB = Path(__file__).resolve().parents[2] / "examples" / "web"
CHROMIUM = os.environ.get("I2I_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 120_000   # wasm compile + first run on 2 shared cores


pytestmark = pytest.mark.skipif(os.environ.get("I2I_SKIP_BROWSER") == "1",
                                reason="I2I_SKIP_BROWSER=1: the browser test of examples/web is skipped")


def require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium, or set I2I_CHROMIUM)")
    if not (WEB / "node_modules" / "onnxruntime-web" / "dist").is_dir():
        missing.append(f"{WEB / 'node_modules'} (make web-example)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        pytest.fail("examples/web cannot be tested, missing: " + "; ".join(missing)
                    + ". Set I2I_SKIP_BROWSER=1 to skip this test.")


@pytest.fixture(scope="module")
def server(model):
    require_browser()
    spec = importlib.util.spec_from_file_location("web_serve", WEB / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    httpd = serve.make_server(model, port=0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", model
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    url, _ = server
    with sync_playwright() as playwright:
        # No background traffic: this machine's network is closed (and tests never leave 127.0.0.1).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.messages = []
        page.on("console", lambda message: page.messages.append(f"console.{message.type}: {message.text}"))
        page.on("pageerror", lambda error: page.messages.append(f"page error: {error}"))
        page.goto(url + "/")
        wait_for_state(page, "ready")
        yield page
        browser.close()


def wait_for_state(page, state: str, translations: int | None = None) -> None:
    condition = f"document.body.dataset.state === {state!r} || document.body.dataset.state === 'error'"
    if translations is not None:
        condition = f"(window.i2i.translations === {translations} && ({condition})) || document.body.dataset.state === 'error'"
    page.wait_for_function(condition, timeout=TIMEOUT_MS)
    status = page.inner_text("#status")
    assert page.evaluate("document.body.dataset.state") == state, f"{status}\n" + "\n".join(page.messages)


def translate_in_page(page, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input CHW float, output CHW float, output canvas HxWx3 uint8) as the page computed them."""
    count = page.evaluate("window.i2i.translations")
    page.set_input_files("#image-file", str(path))
    wait_for_state(page, "done", translations=count + 1)
    found = page.evaluate("""() => {
        const {lastInput: i, lastOutput: o} = window.i2i;
        const canvas = document.getElementById('output');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return {input: Array.from(i.data), output: Array.from(o.data), canvas: Array.from(pixels),
                width: o.width, height: o.height};
    }""")
    height, width = found["height"], found["width"]
    chw = lambda values: np.asarray(values, np.float32).reshape(3, height, width)  # noqa: E731
    canvas = np.asarray(found["canvas"], np.uint8).reshape(height, width, 4)
    assert (canvas[..., 3] == 255).all()
    return chw(found["input"]), chw(found["output"]), canvas[..., :3]


def python_translation(model: Path, image: np.ndarray) -> np.ndarray:
    """onnxruntime (CPU) on HxWx3 [0, 1]: reflect-padded to 32 at the bottom/right, cropped back; CHW."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((0, -height % 32), (0, -width % 32), (0, 0)), mode="reflect")
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    output = session.run(None, {"image": padded.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
    return output[:, :height, :width]


def test_page_reads_the_metadata_props_from_the_model_bytes(page, server):
    expected = {entry.key: entry.value for entry in onnx.load(server[1]).metadata_props}
    assert page.evaluate("window.i2i.metadata") == expected
    assert "A->B" in page.inner_text("#metadata") and "multiples of 32" in page.inner_text("#metadata")


@pytest.mark.parametrize("size", [(45, 70), (12, 20)])   # padded to 64×96; a pad larger than the image
def test_page_translates_like_onnxruntime_in_python(page, server, tmp_path, size):
    pixels = np.random.default_rng(size[0]).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "input.png")
    page_input, page_output, canvas = translate_in_page(page, tmp_path / "input.png")

    assert np.array_equal(page_input, pixels.transpose(2, 0, 1) / np.float32(255))   # decoded exactly
    expected = python_translation(server[1], pixels.astype(np.float32) / 255)
    assert page_output.shape == expected.shape
    # wasm vs the CPU execution provider: float rounding only (measured ~1e-7; 1e-4 allowed).
    assert np.abs(page_output - expected).max() <= 1e-4
    quantised = np.round(np.clip(expected, 0, 1) * 255).transpose(1, 2, 0)
    assert np.abs(canvas.astype(np.int16) - quantised).max() <= 1                    # 8-bit canvas

    if os.environ.get("I2I_WEB_SCREENSHOT"):
        page.screenshot(path=os.environ["I2I_WEB_SCREENSHOT"], full_page=True)


def test_a_model_chosen_from_disk_replaces_the_served_one(page, server, tmp_path):
    page.set_input_files("#model-file", str(server[1]))
    page.wait_for_function("document.getElementById('metadata').textContent.startsWith('model.onnx (file)')",
                           timeout=TIMEOUT_MS)
    wait_for_state(page, "ready")
    pixels = np.full((32, 32, 3), 200, np.uint8)
    Image.fromarray(pixels).save(tmp_path / "grey.png")
    _, page_output, _ = translate_in_page(page, tmp_path / "grey.png")
    assert np.abs(page_output - python_translation(server[1], pixels.astype(np.float32) / 255)).max() <= 1e-4


def test_a_file_without_i2i_metadata_is_refused_with_a_message(page, tmp_path):
    save_plain_onnx(tmp_path / "plain.onnx")
    page.set_input_files("#model-file", str(tmp_path / "plain.onnx"))
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=TIMEOUT_MS)
    assert "no i2i metadata" in page.inner_text("#status")
