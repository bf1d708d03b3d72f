# `make demo` and `make test` do all set-up on a fresh machine (Python 3.11 + pip).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-cyclegan demo-sr demo-munit demo-funit test venv web-example opencv4 clean-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# examples/web: onnxruntime-web from the npm registry, as locked (no install scripts run; none are needed).
WEB := examples/web
$(WEB)/node_modules/.package-lock.json: $(WEB)/package.json $(WEB)/package-lock.json
	.ci/system-packages
	cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

web-example: $(WEB)/node_modules/.package-lock.json

# OpenCV DNN 4.x in its own environment (numpy + cv2 only), for the runtime matrix and examples/opencv:
# the main environment has OpenCV 5, and deployed apps still run 4.x. Pinned: the version the matrix reports.
OPENCV4 := .venv-opencv4
$(OPENCV4)/.installed:
	$(PYTHON) -m venv $(OPENCV4)
	$(OPENCV4)/bin/pip install --quiet numpy opencv-python-headless==4.14.0.94
	touch $@

opencv4: $(OPENCV4)/.installed

# The browser test also needs Debian's chromium (/usr/bin/chromium), which .ci/system-packages installs.
test: $(STAMP) web-example opencv4
	.ci/system-packages
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

# CycleGAN on the built-in unpaired `stripes` set (about 13 minutes on 2 CPU cores).
demo-cyclegan: $(STAMP)
	$(BIN)/i2i data demo stripes data/stripes --size 32
	rm -rf runs/demo-stripes
	$(BIN)/i2i train cyclegan --recipe recipes/cyclegan-stripes.toml --data data/stripes --out runs/demo-stripes
	$(BIN)/i2i eval runs/demo-stripes --data data/stripes --to striped --samples $(DEMO)/stripes.png
	$(BIN)/i2i eval runs/demo-stripes --data data/stripes --to plain

# SRResNet ×4 on scikit-image's bundled photos (about 18 minutes on 2 CPU cores), then a tiled upscale.
demo-sr: $(STAMP)
	$(BIN)/i2i data demo photos data/photos
	rm -rf runs/demo-sr
	$(BIN)/i2i train srgan --recipe recipes/srresnet-photos.toml --data data/photos --out runs/demo-sr
	$(BIN)/i2i eval runs/demo-sr --data data/photos --samples $(DEMO)/sr_crops.png
	$(BIN)/i2i translate runs/demo-sr data/photos/test --out $(DEMO)/sr --tile 128 --overwrite

# MUNIT on the built-in multimodal `styles` set (outline → 5 palettes; training took 33 min on 2 shared CPU cores):
# 5 random styles per outline, a reference-style translation, both ONNX graphs, and the measurements.
demo-munit: $(STAMP)
	$(BIN)/i2i data demo styles data/styles --size 32
	rm -rf runs/demo-styles
	$(BIN)/i2i train munit --recipe recipes/munit-styles.toml --data data/styles --out runs/demo-styles
	$(BIN)/i2i translate runs/demo-styles data/styles/outline/test --out $(DEMO)/styles --num-styles 5 --seed 0 --overwrite
	$(BIN)/i2i translate runs/demo-styles data/styles/outline/test --out $(DEMO)/styles-ref --style data/styles/painted/test/00001.png --overwrite
	$(BIN)/i2i export runs/demo-styles --to painted --out $(DEMO)/munit.onnx
	$(BIN)/python benchmarks/munit_styles.py runs/demo-styles --data data/styles --out $(DEMO)/munit_styles.md --grid $(DEMO)/munit_styles.png

# FUNIT on the built-in `classes` set (12 training classes, 4 held out; training took 37 min on 2 shared CPU cores):
# few-shot translation into a held-out class from K = 1 and K = 5 images, ONNX export, measurements.
demo-funit: $(STAMP)
	$(BIN)/i2i data demo classes data/classes --size 32
	rm -rf runs/demo-classes
	$(BIN)/i2i train funit --recipe recipes/funit-classes.toml --data data/classes --out runs/demo-classes
	$(BIN)/i2i translate runs/demo-classes data/classes/train/class00 --out $(DEMO)/classes --class-images data/classes/unseen/class13 --overwrite
	$(BIN)/i2i export runs/demo-classes --out $(DEMO)/funit.onnx
	$(BIN)/python benchmarks/funit_fewshot.py runs/demo-classes --data data/classes --out $(DEMO)/funit_fewshot.md --grid $(DEMO)/funit_fewshot.png

clean-demo:
	rm -rf data/shapes data/stripes data/photos data/styles data/classes runs/demo-shapes runs/demo-stripes \
		runs/demo-sr runs/demo-styles runs/demo-classes $(DEMO)
