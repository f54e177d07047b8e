# make setup: create .venv/ and install segwgan with its test extras.
# make test:  run the whole test suite (installs first if needed).
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup test

setup: $(STAMP)

$(STAMP): setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required; set PYTHON=...)"; exit 2; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Two pytest workers (pytest-xdist), one test file each at a time: module
# fixtures run once, session fixtures once per worker. Most tests wait on
# one-threaded Python (imports, tracing, tool start-up), so one process used
# one core of two. TEST_WORKERS=0 runs the suite in one process.
# --durations=30 lists the slowest tests, so a CI log shows where time goes;
# --no-loadscope-reorder keeps tests/conftest.py's order (slowest files
# first) instead of xdist's (files with the most tests first).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --durations=30 $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder) tests

# make demo: the main job (issue 7). Sets up .venv/, then runs
#   tools/reproduce.py on CMP Facades with a tiny CPU schedule
#   (experiments/cmp_facades_demo.yaml, one seed): TFLite conversion, stage 1
#   GAN and WGAN-GP, a cross-entropy DeepLabv3, from it DeepLabv3 / SegGAN /
#   SegWGAN / SegWGAN with scaled lambdas, each evaluated on val and test,
#   the report. Prints the grad_share and critic_rank lines and the report's
#   path (DEMO_DIR/report/report.md).
#   DATA_DIR=...    CMP Facades (the folder holding base/); default
#                   $(SHARED)/data/cmp_facades if present, else the official
#                   download.
#   WEIGHTS_DIR=... a folder with deeplabv3_257_mv_gpu.tflite; default
#                   $(SHARED)/weights if present, else the official download.
#   DEMO_DIR=...    output (default runs/demo; rerunning resumes/skips).
#   TFDS_DIR=...    where the prepared dataset is kept (default
#                   ~/tensorflow_datasets).
SHARED ?= $(or $(SEGWGAN_SHARED_DIR),../shared)
DATA_DIR ?= $(if $(wildcard $(SHARED)/data/cmp_facades/base),$(SHARED)/data/cmp_facades)
WEIGHTS_DIR ?= $(if $(wildcard $(SHARED)/weights),$(SHARED)/weights)
DEMO_DIR ?= runs/demo
TFDS_DIR ?=

.PHONY: demo

demo: $(STAMP)
	$(VENV)/bin/python tools/reproduce.py --dataset=cmp_facades --seeds=1 \
	    --protocol_file=experiments/cmp_facades_demo.yaml \
	    $(if $(DATA_DIR),--data_dir=$(DATA_DIR),--download) \
	    $(if $(WEIGHTS_DIR),--weights_dir=$(WEIGHTS_DIR)) \
	    $(if $(TFDS_DIR),--tfds_dir=$(TFDS_DIR)) \
	    --output_dir=$(DEMO_DIR)
