"""The notebooks are stored executed (so their figures show when browsing the repository) and
run end to end at reduced size.

Convention: a notebook's first code cell sets `SCALE = 1.0` (its default size, under a minute).
Stored notebooks are executed at that size, outputs included and kept small (figures at 72 dpi):
`python tests/test_notebooks.py --execute` re-executes them in place after a change (of the
notebooks or of what they draw). The test rewrites the SCALE line to `SCALE = 0.1` and executes
each notebook with nbclient from the notebooks/ folder; any cell error fails the test.

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

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ["01-quickstart.ipynb", "02-deployments.ipynb", "03-policy-comparison.ipynb", "04-trace-replay.ipynb",
            "05-preemption.ipynb", "06-autoscale.ipynb"]
SCALE_LINE = re.compile(r"^SCALE = 1\.0\b", re.M)
TEST_SCALE = "0.1"


MAX_NOTEBOOK_BYTES = 1_500_000
MAX_IMAGE_BYTES = 150_000  # base64 of one embedded PNG


def write_kernelspec(folder: Path) -> None:
    """A `python3` kernelspec running this interpreter, in `folder`/kernels."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (nomadsim tests)", "language": "python"}))


@pytest.fixture
def this_python_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `python3` kernelspec running this interpreter, first on JUPYTER_PATH."""
    write_kernelspec(tmp_path)
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
def test_notebook_is_stored_executed_with_small_outputs(name):
    """Stored notebooks open with `SCALE = 1.0` and were executed top to bottom at that size without
    error: every code cell ran in order, figures are embedded PNGs, and the file stays small."""
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert SCALE_LINE.search(code[0].source)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        f"not executed in order: python {Path(__file__).relative_to(ROOT)} --execute"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert images and max(map(len, images)) < MAX_IMAGE_BYTES
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES


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


def execute_in_place(names: list[str]) -> None:
    """Execute the notebooks at their stored size and write them back with their outputs."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_kernelspec(Path(folder))
        os.environ["JUPYTER_PATH"] = folder
        for name in names:
            path = NOTEBOOKS / name
            nb = nbformat.read(path, as_version=4)
            nbclient.NotebookClient(nb, kernel_name="python3", timeout=600, record_timing=False,
                                    resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            nbformat.write(nb, path)
            print(path, path.stat().st_size)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--execute"]:
        sys.exit(f"usage: python {sys.argv[0]} --execute [NOTEBOOK ...]")
    execute_in_place(sys.argv[2:] or EXPECTED)
