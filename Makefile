# Quick start: `make demo` then `make test`. Both need only Python 3.11 (or 3.10+) and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test fuzz install bench bench-device soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgekit demo
	$(VENV)/bin/edgekit demo audio
	$(VENV)/bin/edgekit demo anomaly

# Two workers (pytest-xdist) for CI's two cores: one's subprocess and service waits overlap the other's work
# (measured: 633 s serial, 516 s with -n 2, on this 2-core machine).
# The system packages the tests use (PulseAudio, mosquitto, espeak-ng, flite) are installed first where this
# machine can (.ci/system-packages); where it cannot, the tests that need them skip and say why.
test: $(STAMP)
	@bash .ci/system-packages
	$(PY) -m pytest -q -n 2

fuzz: $(STAMP)
	EDGEKIT_FUZZ_N=100000 $(PY) -m pytest -q tests/test_fuzz.py

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The device path against its floor (latency ratios, incremental frames, cold start, peak RSS), and a
# 24-hour-equivalent stream in fixed memory. Results in benchmarks/results/{device,soak}.json.
bench-device: $(STAMP)
	$(PY) benchmarks/device.py

soak: $(STAMP)
	$(PY) benchmarks/soak.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
