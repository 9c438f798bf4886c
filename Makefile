# Every target installs what it needs first (scripts/bootstrap.sh), so a clean clone needs nothing else.
VENV   := .venv
PY     := $(VENV)/bin/python
ARGS   ?=

.PHONY: all bootstrap run test fuzz lint typecheck generate docs bench bench-fleet clean image demo

all: lint test

bootstrap:
	@scripts/bootstrap.sh

## make run: the exporter on this machine (real NVML when a GPU is present, else the fake 8x H100 node).
run: bootstrap
	$(PY) -m exporter --gpu.backend=auto $(ARGS)

## make test: the whole suite; pytest's "no tests ran" (exit 5) fails like any other failure.
test: bootstrap
	$(PY) -m pytest $(ARGS)

## make fuzz: the property tests (tests/test_fuzz_*.py) with thousands of examples each, instead of make
## test's few dozen; failing examples are kept in .hypothesis/ and replayed first next time.
fuzz: bootstrap
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/test_fuzz_*.py $(ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## make generate: the bundle (rules, dashboards, scrape and deploy objects) into build/, plus docs.
generate: bootstrap
	$(PY) -m bundle.generate --out build $(ARGS)

docs: bootstrap
	$(PY) -m exporter.catalogue.reference > docs/metrics.md.tmp && mv docs/metrics.md.tmp docs/metrics.md
	$(PY) -m exporter.options_docs example > docs/exporter.example.yaml.tmp && mv docs/exporter.example.yaml.tmp docs/exporter.example.yaml
	$(PY) -m exporter.options_docs reference > docs/exporter-config.md.tmp && mv docs/exporter-config.md.tmp docs/exporter-config.md
	$(PY) -m dashboards.docs
	$(PY) -m bundle.docs

bench: bootstrap
	$(PY) -m benchmarks $(ARGS)

## make bench-fleet: rules and dashboards on a synthetic 100/300/1,000-node fleet in Prometheus and VictoriaMetrics
## (docs/scale.md; ARGS="--nodes 100" for one size).
bench-fleet: bootstrap
	$(PY) -m benchmarks.fleet $(ARGS)

## make demo: the local stack (simulated GPUs and TF Serving, MLflow, Prometheus, Alertmanager) with fault switches.
demo: bootstrap
	$(PY) -m demo $(ARGS)

## make image: the exporter's container image (buildah; a Debian base made with mmdebstrap when none is given).
image:
	scripts/build-image.sh $(ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis
