"""The HTML report is self-contained: it opens in headless Chromium with every image loaded."""
import re
import shutil
import subprocess

import pytest

import trainlab

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]

CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.setAttribute('data-check', `images=${imgs.length} broken=${bad}`);
});
</script></body>"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    return trainlab.train({"dataset": "digits", "model": "mlp", "epochs": 2, "diagnostics": True,
                           "runs_dir": str(d / "runs"), "threads": 1}, quiet=True)


def test_report_is_self_contained(run):
    html = run.report.read_text()
    assert "<img" in html
    assert not re.search(r'src="(?!data:)', html), "every image is inlined"
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_report_opens_in_chromium_with_all_images(run, tmp_path):
    if CHROMIUM is None:
        if __import__("os").environ.get("CI"):
            pytest.fail("chromium is missing on CI: scripts/setup.sh --test installs it")
        pytest.skip("chromium not installed (bash scripts/setup.sh --test installs it)")
    page = tmp_path / "page.html"
    page.write_text(run.report.read_text().replace("</body>", CHECK))
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-check="images=(\d+) broken=(\d+)"', out.stdout)
    assert m, out.stderr[-2000:]
    n_images, broken = int(m.group(1)), int(m.group(2))
    assert n_images >= 5 and broken == 0
    console = [l for l in out.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    assert not console, console
