# depthblur: one command to try it, one to test it (see README.md).
#   make demo   the user's install (no test tools) in .venv, then every subcommand on the examples
#   make test   the same environment completed with the test tools, then lint and the suite
# Both install the versions in constraints.txt (the suite last passed with them); LOCK=0 lets pip
# resolve the newest instead, and `make lock` refreshes the file from such a run.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out
DB     := $(BIN)/depthblur
CONSTRAINTS ?= constraints.txt
LOCK   ?= 1
PIP    := $(BIN)/python -m pip install --quiet $(if $(filter 0,$(LOCK)),,--constraint $(CONSTRAINTS))

.PHONY: install demo test test-latest lock lint bench wheel readme-images clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The user's install: depthblur and what it needs to run, nothing for tests.
$(VENV)/.installed-user: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e .
	@touch $@

# The developer's: the same completed with the test, lint and optional-engine tools.
$(VENV)/.installed-dev: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e ".[dev]"
	@touch $@ $(VENV)/.installed-user

## install: the developer's environment in .venv (make test does this itself)
install: $(VENV)/.installed-dev
	@$(DB) --version

## demo: install what the tool needs, then run every subcommand on the example photos, offline, into out/
demo: $(VENV)/.installed-user
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
	@$(BIN)/python docs/contact_sheet.py $(OUT)

## test: install the test tools, lint (ruff), format check, types (mypy), then the test suite and the doctests
test: lint
	@$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$status

## lint: ruff (lint and format check) and mypy, zero findings
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test-latest: the suite on the newest versions pip resolves today, in .venv-latest (constraints not applied)
test-latest:
	$(MAKE) test VENV=.venv-latest LOCK=0

## lock: refresh constraints.txt from a fresh environment of the newest versions, once the suite passes on it
lock:
	rm -rf .venv-lock
	$(MAKE) test VENV=.venv-lock LOCK=0
	{ echo "# The versions the suite last passed with (make lock; Python 3.11, Linux x86-64)."; \
	  echo "# make demo and make test install these; make test-latest checks the newest."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

## bench: rendering speed and accuracy, side by side with baselines
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_render.py
	$(BIN)/python benchmarks/bench_accuracy.py

## wheel: build the wheel into dist/
wheel:
	$(BIN)/python -m build --wheel --outdir dist

## readme-images: regenerate the before/after pictures in docs/
readme-images:
	$(BIN)/python docs/make_readme_images.py

clean:
	rm -rf $(OUT) dist build *.egg-info .pytest_cache .venv-latest .venv-lock
