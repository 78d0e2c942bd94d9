# `make test` and `make demo` each set everything up on a fresh machine first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every model-zoo adapter in adapters/ is its own distribution, installed editable after the core; adapters/timm
# is packaged by the core itself (pyproject.toml), so that a plain `pip install` brings timm support.
ADAPTERS := $(filter-out adapters/timm,$(patsubst %/pyproject.toml,%,$(wildcard adapters/*/pyproject.toml)))

.PHONY: test demo docs bench-speed clean

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(ADAPTERS))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test,tune,onnx,autoattack,tensorboard,mlflow,docs]'
	for adapter in $(ADAPTERS); do $(PY) -m pip install -q -e $$adapter || exit 1; done
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

demo: $(STAMP)
	$(VENV)/bin/art-bmtad bench --preset smoke --out runs/demo --overwrite

bench-speed: $(STAMP)
	$(PY) benchmarks/epoch_speed.py --n 256 --batch-size 128 --repeats 3 --methods bmtard-hand,bmtard,plain

clean:
	rm -rf $(VENV) build site *.egg-info adapters/*/*.egg-info
