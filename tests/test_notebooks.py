"""The notebooks run end to end at reduced size, and are stored without outputs.

Convention: a notebook's first code cell sets `SCALE = 1.0` (its default size, under a minute);
the test rewrites that line to `SCALE = 0.1` and executes the notebook with nbclient from the
notebooks/ folder. Any cell error fails the test.

The kernel is `python3` pinned to this interpreter: a kernelspec written to a temporary folder
put first on JUPYTER_PATH runs `sys.executable -m ipykernel_launcher`, so a `python3` kernelspec
of another Python in the user's Jupyter folders cannot shadow the venv's. (Without it,
jupyter_client would also pick the venv's ipykernel: it swaps a kernelspec's bare `python` for
`sys.executable`, and falls back to ipykernel's built-in spec when none is installed.)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ["01-quickstart.ipynb", "02-deployments.ipynb", "03-policy-comparison.ipynb", "04-trace-replay.ipynb",
            "05-preemption.ipynb", "06-autoscale.ipynb"]
SCALE_LINE = re.compile(r"^SCALE = 1\.0\b", re.M)
TEST_SCALE = "0.1"


@pytest.fixture
def this_python_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `python3` kernelspec running this interpreter, first on JUPYTER_PATH."""
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (nomadsim tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "python3"


def _first_code_cell(nb):
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def reduced(path: Path):
    """The notebook with its size parameter set to TEST_SCALE."""
    nb = nbformat.read(path, as_version=4)
    cell = _first_code_cell(nb)
    cell.source = SCALE_LINE.sub(f"SCALE = {TEST_SCALE}", cell.source, count=1)
    return nb


def test_every_notebook_is_present():
    """The notebooks of the issues exist, and nothing else hides in notebooks/."""
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stored_without_outputs_and_has_a_scale_cell(name):
    """Stored notebooks carry no outputs or execution counts, and open with `SCALE = 1.0`."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert SCALE_LINE.search(code[0].source)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_executes_at_reduced_size(name, this_python_kernel):
    """Every cell runs without error at SCALE = 0.1, and the figures come out as PNG images."""
    nb = reduced(NOTEBOOKS / name)
    client = nbclient.NotebookClient(nb, kernel_name=this_python_kernel, timeout=180,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert "SCALE = 0.1" in _first_code_cell(nb).source
