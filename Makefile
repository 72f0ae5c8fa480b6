# Two commands on a fresh Debian machine with Python 3.11: `make run` and `make test`.
# Both install what is missing: Debian packages with apt-get, then a .venv with the project.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# libportaudio2 and libsndfile1: sounddevice and soundfile; jackd2: the virtual real-time
# audio device the tests play on; xvfb, xdotool and the Mesa/GL libraries: the editor's tests.
APT_PACKAGES := python3-venv libportaudio2 libsndfile1 jackd2 xvfb xauth xdotool \
	libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 libxrandr2 libxinerama1 libxcursor1 libxi6

.PHONY: run test lint bench bench-realtime gallery media docs screenshots system-packages setup clean

run: setup
	$(BIN)/patcher

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/versus.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/edits.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/instant_play.py
	$(BIN)/python bench/voices.py
	$(BIN)/python bench/realtime.py

bench-realtime: setup
	$(BIN)/python bench/realtime.py

media: setup
	$(BIN)/python -m patcher.testsignals

gallery: setup
	$(BIN)/python -m patcher.gallery

docs: setup
	$(BIN)/patcher nodes --markdown > docs/nodes.md

# The README's editor pictures: default.json fitted on a projector's screen and a large one,
# and the Measure window on pedal_vs_ir's pedal.
screenshots: setup
	state=$$(mktemp -d) && \
	PATCHER_STATE_DIR=$$state xvfb-run -a -s "-screen 0 1024x768x24" \
		$(BIN)/patcher edit patches/default.json --screenshot docs/editor-1024x768.png && \
	PATCHER_STATE_DIR=$$state xvfb-run -a -s "-screen 0 1920x1080x24" \
		$(BIN)/patcher edit patches/default.json --ui-scale 1.5 --screenshot docs/editor-1920x1080-scale1.5.png && \
	PATCHER_STATE_DIR=$$state xvfb-run -a -s "-screen 0 1600x1000x24" \
		$(BIN)/python -m tests.measure_screenshot docs/measure-pedal_vs_ir.png && \
	rm -r $$state

setup: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
