"""examples/notebook.ipynb, executed headless in a real Jupyter kernel."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from examples_support import EXAMPLES

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = EXAMPLES / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # A kernel spec for this interpreter (ipykernel is in the dev extra), found first
    # through JUPYTER_PATH, so the notebook runs against this checkout, not a user's install.
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / "reconcile-examples"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "reconcile", "language": "python"})
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(jupyter))
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        client = nbclient.NotebookClient(
            nb,
            timeout=120,
            kernel_name="reconcile-examples",
            resources={"metadata": {"path": str(EXAMPLES)}},
        )
        client.execute()
    return nb


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def test_every_cell_runs_without_error(executed: Any) -> None:
    errors = [o for o in _outputs(executed) if o.get("output_type") == "error"]
    assert errors == []
    assert all(cell.execution_count for cell in executed.cells if cell.cell_type == "code")


def test_the_plan_and_the_drift_render_as_html(executed: Any) -> None:
    html = [o["data"]["text/html"] for o in _outputs(executed) if "text/html" in o.get("data", {})]
    assert len(html) >= 3  # the plan, one create, the drift
    assert any("web-config" in h and "edited by hand" in h for h in html)


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def test_the_text_shows_sync_and_heal(executed: Any) -> None:
    text = "".join(
        o.get("text", "") for o in _outputs(executed) if o.get("output_type") == "stream"
    )
    assert "6 to create, 0 to change, 0 to prune" in text
    assert "{'created': 6}" in text
    assert "['ConfigMap quickstart/web-config'] -> hello from git" in text


def test_notebook_path_is_in_the_examples() -> None:
    assert NOTEBOOK.parent == Path(EXAMPLES)
