"""The teaching notebooks are kept reviewable and testable: each is paired with a py:percent
script whose cells are identical, is committed executed, checks its key figures under nbval
and asserts what it teaches. (nbval itself runs the notebooks: see the README's test command.)"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_is_in_sync(path: Path) -> None:
    script = path.with_suffix(".py")
    assert script.exists(), f"{path.name} has no paired {script.name}"
    nb_cells = [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]
    py_cells = [(c.cell_type, c.source.strip()) for c in jupytext.read(script).cells]
    assert nb_cells == py_cells, f"{path.name} and {script.name} differ: run jupytext --sync"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_with_checks(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "commit it executed"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom"
    checked = [c for c in code if "NBVAL_CHECK_OUTPUT" in c.source]
    assert checked and all(c.outputs for c in checked), "key figures must be checked outputs"
    assert any("assert " in c.source for c in code), "a notebook asserts what it teaches"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "TOOLKIT_FAST" in "".join(c.source for c in code), "fast-mode parameter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_plotting_cells_end_with_show(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and ("plot" in cell.source or "plt." in cell.source):
            if "plt.subplots" in cell.source or "ax=" in cell.source or "plot_" in cell.source:
                last = cell.source.strip().splitlines()[-1].strip()
                assert last == "plt.show()", f"{path.name}: a plotting cell should end with plt.show()"
