# depthblur: one command each to install, try and test (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out
DB     := $(BIN)/depthblur

.PHONY: install demo test lint bench wheel readme-images clean

## install: virtual environment in .venv with depthblur and the dev tools
install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@$(DB) --version

## demo: run all four subcommands on the example photos, offline, into out/
demo:
	@mkdir -p $(OUT)
	$(DB) bokeh examples/astronaut.png examples/coffee.png examples/chelsea.png -o $(OUT)/bokeh --offline --overwrite
	$(DB) gaussian examples/astronaut.png examples/coffee.png examples/chelsea.png -o $(OUT)/gaussian --offline --overwrite
	$(DB) rembg-blur examples/astronaut.png examples/coffee.png examples/chelsea.png -o $(OUT)/rembg-blur --offline --overwrite
	$(DB) rembg-blur examples/chelsea.png --cutout -o $(OUT)/rembg-blur/chelsea.cutout.png --offline --overwrite
	$(DB) depth examples/astronaut.png examples/coffee.png examples/chelsea.png -o $(OUT)/depth --offline --overwrite --save-depth
	$(DB) depth examples/motorcycle_left.png --depth-map examples/motorcycle_disp.npz --focal-selector 0.5,0.55 --blur-strength 80 \
		-o $(OUT)/depth/motorcycle.gt-depth.png --offline --overwrite --save-depth
	$(DB) depth examples/motorcycle_left.png --stereo-right examples/motorcycle_right.png --focal-selector 0.5,0.55 --blur-strength 80 \
		-o $(OUT)/depth/motorcycle.stereo.png --offline --overwrite --save-depth
	@echo "demo outputs in $(OUT)/"

## test: lint (ruff), format check, types (mypy), then the test suite and the doctests
test: lint
	@$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$status

## lint: ruff (lint and format check) and mypy, zero findings
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: rendering speed and accuracy, side by side with baselines
bench:
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_accuracy.py

## wheel: build the wheel into dist/
wheel:
	$(BIN)/python -m build --wheel --outdir dist

## readme-images: regenerate the before/after pictures in docs/
readme-images:
	$(BIN)/python docs/make_readme_images.py

clean:
	rm -rf $(OUT) dist build *.egg-info .pytest_cache
