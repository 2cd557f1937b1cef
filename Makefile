# Diffusion from Scratch: every target creates .venv with pip on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?=
PRESET_FLAG := $(if $(PRESET),--preset $(PRESET),)
SMOKE_ENV := DDPM_COURSE_MODE=smoke TQDM_DISABLE=1 MPLBACKEND=Agg

.PHONY: help install quest quest-pixel test test-browser typecheck test-fast lab notebooks slides book bench quality judge pretrained pretrained-flow pretrained-latent pretrained-reflow results clean

help:
	@echo "make quest       train a latent DDPM from scratch, write chaos_sculptures/new_creation.png (PRESET=smoke|cpu|gpu)"
	@echo "make quest-pixel the same Quest with the pixel-space DDPM of notebooks 04-05"
	@echo "make test        type check, unit tests + every notebook (smoke mode) with nbval"
	@echo "make test-browser JupyterLab and the slide decks in headless Chromium (apt-get install chromium chromium-driver)"
	@echo "make lab         JupyterLab on the course notebooks"
	@echo "make notebooks   re-execute every notebook in place with the cpu preset, timing it (and in smoke mode)"
	@echo "make slides      offline reveal.js decks of every notebook under build/slides (open from disk)"
	@echo "make book        the course as an offline website: build/book/index.html (Sphinx + myst-nb, Python 3.11+)"
	@echo "make bench       training and sampling throughput on this machine"
	@echo "make quality     time to quality: baseline, course and peer recipes trained for 2 and 4 minutes each (~25 min)"
	@echo "make judge       retrain the judge classifier (ddpm_lib/weights/judge.safetensors)"
	@echo "make pretrained  retrain the shipped pretrained DDPM (ddpm_lib/weights/pretrained_ddpm.safetensors)"
	@echo "make pretrained-flow  retrain the shipped flow-matching model (the same recipe, --objective velocity)"
	@echo "make pretrained-latent  retrain the shipped autoencoder and the latent DDPM on it (notebook 09)"
	@echo "make pretrained-reflow  retrain the shipped reflow model: the latent DDPM straightened for 1-2 Euler steps (~10 min)"
	@echo "make results     regenerate the README results table"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[course,test]"
	@touch $(STAMP)

install: $(STAMP)

BOOK_STAMP := $(VENV)/.installed-book
$(BOOK_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[book]"
	@touch $@

quest: $(STAMP)
	$(PY) -m ddpm_lib quest $(PRESET_FLAG)

quest-pixel: $(STAMP)
	$(PY) -m ddpm_lib quest --pixel $(PRESET_FLAG)

test: $(STAMP)
	$(VENV)/bin/mypy
	$(SMOKE_ENV) $(PY) -m pytest tests notebooks --ignore=tests/browser --nbval-lax --nbval-current-env -p no:cacheprovider

test-browser: $(STAMP)
	@if $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then $(MAKE) --no-print-directory $(BOOK_STAMP); \
	else echo "the book extra needs Python 3.11+: the website tests will skip"; fi
	$(SMOKE_ENV) $(PY) -m pytest tests/browser -p no:cacheprovider -rs

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-fast: $(STAMP)
	$(SMOKE_ENV) $(PY) -m pytest tests --ignore=tests/browser -p no:cacheprovider

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

notebooks: $(STAMP)
	$(PY) -m tools.notebook_times --preset cpu --inplace notebooks/[0-9]*.ipynb
	$(PY) -m tools.notebook_times --preset smoke notebooks/[0-9]*.ipynb

slides: $(STAMP)
	$(PY) -m tools.slides --out build/slides

book: $(BOOK_STAMP)
	$(PY) -m tools.book --out build/book

bench: $(STAMP)
	$(PY) -m ddpm_lib bench $(PRESET_FLAG)

quality: $(STAMP)
	$(PY) -m tools.quality --budgets 2,4 --samplers dpm++:15 --recipes course+baseline+peer --out data/quality

judge: $(STAMP)
	$(PY) -m ddpm_lib train-judge --out ddpm_lib/weights/judge.safetensors

pretrained: $(STAMP)
	$(PY) -m ddpm_lib train --preset cpu --steps 3000 --out ddpm_lib/weights/pretrained_ddpm.safetensors

pretrained-flow: $(STAMP)
	$(PY) -m ddpm_lib train --preset cpu --steps 3000 --objective velocity --out ddpm_lib/weights/pretrained_flow.safetensors

pretrained-latent: $(STAMP)
	$(PY) -m ddpm_lib train-autoencoder --preset cpu --out ddpm_lib/weights/autoencoder.safetensors
	$(PY) -m ddpm_lib train --preset cpu --steps 6000 --autoencoder ddpm_lib/weights/autoencoder.safetensors --out ddpm_lib/weights/pretrained_latent.safetensors

pretrained-reflow: $(STAMP)
	$(PY) -m ddpm_lib reflow --teacher ddpm_lib/weights/pretrained_latent.safetensors --out ddpm_lib/weights/reflow_latent.safetensors

results: $(STAMP)
	$(PY) -m tools.results --checkpoint ddpm_lib/weights/pretrained_ddpm.safetensors

clean:
	rm -rf $(VENV) build runs .pytest_cache
