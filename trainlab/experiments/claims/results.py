"""Claims' results as a notebook shows them: a table of verdicts, and `.plot()` for their pictures.

`run_claims` and `load_results` return a `ClaimResults`: still the list of result dicts that
`<folder>/<id>/<mode>.json` hold (scripts index it as before), with the folder beside it so the
pictures (`plot-<mode>.png`) can be found.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ...errors import TrainlabError
from ...report.plots import plt
from ...runs.figures import shown

COLOURS = {"supported": "#2e7d32", "refuted": "#c62828", "inconclusive": "#ef6c00"}


class ClaimResults(list):
    """Claims' results (a list of result dicts, as `<mode>.json` holds them), with the folder they are in:
    a notebook shows them as a table of verdicts, and `.plot()` draws their pictures."""

    def __init__(self, results: list[dict[str, Any]], folder: str | Path):
        super().__init__(results)
        self.folder = Path(folder)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><b>{html.escape(r['id'])}</b></td><td>{html.escape(str(r.get('deck', '')))}</td>"
            f"<td>{html.escape(str(r.get('mode', '')))}</td>"
            f"<td style='text-align:left'>{html.escape(str(r.get('text', '')))}</td>"
            f"<td style='color:{COLOURS.get(r['verdict'], '#555')};font-weight:bold'>{html.escape(r['verdict'])}</td>"
            f"<td style='text-align:left'>{html.escape(str(r.get('because', '')))}</td></tr>" for r in self)
        return ("<table><tr><th>claim</th><th>deck</th><th>mode</th><th>the deck says</th><th>verdict</th>"
                "<th>because</th></tr>" + rows + "</table>")

    def plot(self):
        """Each claim's picture (its plot-<mode>.png), one under another, titled with its verdict."""
        pictures = [(r, self.folder / r["id"] / r["plot"]) for r in self if r.get("plot")]
        pictures = [(r, p) for r, p in pictures if p.is_file()]
        if not pictures:
            raise TrainlabError(f"no claim picture in {str(self.folder)!r}; run the claims first")
        images = [plt.imread(p) for _, p in pictures]
        width = 9.0
        heights = [width * im.shape[0] / im.shape[1] for im in images]
        fig, axes = plt.subplots(len(images), 1, figsize=(width, sum(heights) + 0.4 * len(images)),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        for ax, (r, _), im in zip(axes[:, 0], pictures, images):
            ax.imshow(im)
            ax.set_axis_off()
            ax.set_title(f"{r['id']} ({r.get('mode', '?')}): {r['verdict']}", fontsize=10,
                         color=COLOURS.get(r["verdict"], "#555"))
        return shown(fig)
