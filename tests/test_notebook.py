"""The notebook ``examples/tour.ipynb``, executed top to bottom as a user runs it, then rendered.

It runs HOOMD-blue, a campaign on a LocalCluster, the surrogate, the cost and a check; its own
cells assert what must hold (forces equal HOOMD's, the campaign finished and switched, the change
was flagged) and print ``NOTEBOOK CHECKS``, read here. The executed notebook is exported to HTML
and opened in headless Chromium, which must decode every plot.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tour.ipynb"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
LIMIT = 600  # seconds: the whole notebook, on this 2-core machine (measured: about a minute)

# counts the <img> elements that decoded, once the page has loaded
_COUNT_IMAGES = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.imagesLoaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
});
</script>
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' (nbformat, nbclient)")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' (nbformat, nbclient)")
    run = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in notebook.cells), "commit the notebook without outputs"
    os.environ["HOOMD_MLX_NOTEBOOK_RUN"] = str(run / "outputs")
    try:
        client = nbclient.NotebookClient(
            notebook,
            timeout=LIMIT,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()
    finally:
        os.environ.pop("HOOMD_MLX_NOTEBOOK_RUN", None)
    return notebook, run


def _text(notebook) -> str:
    return "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.mark.hoomd
@pytest.mark.slow
def test_the_notebook_runs_end_to_end(executed):
    notebook, run = executed
    text = _text(notebook)
    checks = re.search(r"NOTEBOOK CHECKS (\{.*\})", text)
    assert checks, text[-2000:]
    assert "False" not in checks.group(1), checks.group(1)
    assert re.search(r"forces: largest difference \S+ of the largest force", text)
    assert "FAILED: 3 of 3 points" in text  # sigma + 5%: flagged
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # energies, learning, completion map, cost, completion curve
    assert (run / "outputs" / "campaign" / "report" / "completion_map.png").exists()


@pytest.mark.hoomd
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH to render the page (apt install chromium)")
def test_the_executed_notebook_renders_with_its_plots(executed, tmp_path):
    from nbconvert import HTMLExporter

    notebook, _ = executed
    html, _ = HTMLExporter().from_notebook_node(notebook)
    page = tmp_path / "tour.html"
    page.write_text(html.replace("</body>", _COUNT_IMAGES + "</body>"))
    dom = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shown = re.search(r'data-images="(\d+)" data-images-loaded="(\d+)"', dom)
    assert shown, dom[:1000]
    assert int(shown.group(1)) >= 5
    assert shown.group(1) == shown.group(2)  # every plot decoded
    assert "The surrogate as a benchmark for changed simulation code" in dom
