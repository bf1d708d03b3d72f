"""Serve the web example (this folder, with onnxruntime-web's dist files from node_modules) on 127.0.0.1.

Usage:
    (cd examples/web && npm ci --ignore-scripts)
    python examples/web/serve.py --model path/to/model.onnx [--port 8000]
    # then open http://127.0.0.1:8000/ (the page loads /model.onnx; ?model=URL loads another)

Python's standard library only. `.wasm` goes out as application/wasm and `.mjs` as text/javascript (what
browsers require of WebAssembly and module scripts); the wasm backend runs single-threaded, so no
cross-origin-isolation headers are needed.
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".js": "text/javascript", ".onnx": "application/octet-stream"}

    def __init__(self, *args, model: Path | None = None, quiet: bool = False, **kwargs) -> None:
        self.model, self.quiet = model, quiet
        super().__init__(*args, directory=str(HERE), **kwargs)

    def translate_path(self, path: str) -> str:
        if self.model is not None and path.split("?", 1)[0] == "/model.onnx":
            return str(self.model)
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a re-exported model is picked up on reload
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(model: str | Path | None = None, port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: any free port) for this folder, `model` at /model.onnx."""
    model = Path(model).resolve() if model is not None else None
    if model is not None and not model.is_file():
        raise SystemExit(f"error: model {model} does not exist")
    if not (HERE / "node_modules" / "onnxruntime-web" / "dist").is_dir():
        raise SystemExit(f"error: {HERE / 'node_modules'} is missing: run `npm ci --ignore-scripts` in {HERE}")
    return ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, model=model, quiet=quiet))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an .onnx file from `i2i export`, served as /model.onnx")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = make_server(args.model, args.port)
    print(f"serving {HERE} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
