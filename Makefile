# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + pip).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The demo: built-in paired `shapes` data → pix2pix on CPU → translate the held-out split →
# export ONNX → translate again with onnxruntime → metrics against the copy-the-input baseline.
DEMO := out/demo
demo: $(STAMP)
	$(BIN)/i2i data demo shapes data/shapes
	rm -rf runs/demo-shapes
	$(BIN)/i2i train pix2pix --recipe recipes/pix2pix-shapes.toml --data data/shapes --out runs/demo-shapes
	$(BIN)/i2i translate runs/demo-shapes data/shapes/test/A --out $(DEMO)/torch --overwrite
	$(BIN)/i2i export runs/demo-shapes --out $(DEMO)/shapes.onnx
	$(BIN)/i2i translate $(DEMO)/shapes.onnx data/shapes/test/A --out $(DEMO)/onnx --overwrite
	$(BIN)/i2i eval runs/demo-shapes --data data/shapes --samples $(DEMO)/side_by_side.png --json $(DEMO)/metrics.json

clean-demo:
	rm -rf data/shapes runs/demo-shapes $(DEMO)
