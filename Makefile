# Two commands a newcomer needs; each sets itself up first.
#   make demo   - build the environment and run the flagship simulation (figures + tables in results/flagship)
#   make test   - build the environment and run every test, notebooks included
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean notebooks run-notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,notebooks,dask]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m toolkit run data/scenarios/flagship.toml --out results/flagship

test: $(STAMP)
	$(PY) -m pytest tests --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg notebooks

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ruff check toolkit tests benchmarks
	$(PY) -m mypy
	$(PY) -m mypy benchmarks

notebooks: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# Re-execute every notebook in place (fast mode), without run timestamps, so diffs show only
# real output changes; then `make test` checks them under nbval.
run-notebooks: $(STAMP)
	cd notebooks && for nb in *.ipynb; do \
		../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
			--ClearMetadataPreprocessor.enabled=True \
			--ClearMetadataPreprocessor.clear_notebook_metadata=False \
			--ClearMetadataPreprocessor.preserve_cell_metadata_mask=lines_to_next_cell $$nb || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
