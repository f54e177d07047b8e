"""The report's figures as small PNGs.

* `loss_curves`: the paper's Figure 4 (gloss and segloss over iterations),
  from the runs' TensorBoard scalars, plus stage 1's generator loss.
* `panel_grid`: rows of titled panels: Figure 3 (image | ground truth |
  G(Y) of each stage-1 GAN) and Figure 5 (image | ground truth | each
  row's prediction), with `visualize.legend` as footer.

Panels are read from the PNGs the tools save (G's reconstructions, label
maps as palette PNGs of class ids) and scaled to fit `PANEL_BOX`.
"""
import dataclasses
import io
import pathlib
from typing import Callable, List, Optional, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np
from PIL import Image

from segwgan import io_utils
from segwgan import labels as labels_lib
from segwgan.serving import visualize

PANEL_BOX = (160, 200)  # (h, w) each panel of a composed figure fits in
_ROW_GAP = 6


def compact(image) -> Image.Image:
  """A composed figure as a 256-colour palette image (no dithering): a
  third or less of the RGB PNG's size, and the same to the eye."""
  if not isinstance(image, Image.Image):
    image = Image.fromarray(np.asarray(image))
  return image.convert("RGB").quantize(
      colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def _fit(panel: np.ndarray, box: Tuple[int, int], nearest: bool
         ) -> np.ndarray:
  """`panel` scaled to fit in `box` (h, w), keeping its aspect ratio."""
  h, w = panel.shape[:2]
  scale = min(box[0] / h, box[1] / w)
  size = (max(1, round(w * scale)), max(1, round(h * scale)))
  method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
  return np.asarray(Image.fromarray(panel).resize(size, method))


def panel_grid(rows: Sequence[Sequence[Tuple[str, np.ndarray, bool]]],
               box: Tuple[int, int] = PANEL_BOX,
               footer: Optional[np.ndarray] = None) -> np.ndarray:
  """Rows of titled panels, each scaled to fit `box`, stacked on white.

  Args:
    rows: per row, (title, RGB uint8 panel, is_label_map) triples; label
      maps are scaled with nearest neighbours.
    footer: an RGB image put under the rows (e.g. `visualize.legend`).
  """
  composed = [visualize.side_by_side(
      [(title, _fit(panel, box, nearest)) for title, panel, nearest in row])
              for row in rows]
  if footer is not None:
    composed.append(footer)
  width = max(r.shape[1] for r in composed)
  total = sum(r.shape[0] for r in composed) + _ROW_GAP * (len(composed) - 1)
  canvas = np.full((total, width, 3), 255, np.uint8)
  y = 0
  for row in composed:
    canvas[y:y + row.shape[0], :row.shape[1]] = row
    y += row.shape[0] + _ROW_GAP
  return canvas


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
  if len(values) < window or window <= 1:
    return values
  kernel = np.ones(window) / window
  padded = np.concatenate([np.full(window - 1, values[0]), values])
  return np.convolve(padded, kernel, mode="valid")


@dataclasses.dataclass(frozen=True)
class Series:
  """One curve: a legend label, its colour and [(step, value)] points."""
  label: str
  colour: str
  points: List[Tuple[int, float]]


def loss_curves(panels: Sequence[Tuple[str, Sequence[Series]]],
                smooth: int = 5) -> bytes:
  """PNG bytes of side-by-side line plots, one per (title, series) panel.

  Each series is drawn raw (thin, light) and as a running mean over
  `smooth` logged points.
  """
  # The object-oriented API: no pyplot, so no global backend or figure state.
  figure = Figure(figsize=(4.2 * len(panels), 3.2), dpi=90)
  FigureCanvasAgg(figure)
  axes = figure.subplots(1, len(panels), squeeze=False)
  for axis, (title, series) in zip(axes[0], panels):
    labelled = set()
    for s in series:
      if not s.points:
        continue
      steps = np.asarray([p[0] for p in s.points])
      values = np.asarray([p[1] for p in s.points])
      axis.plot(steps, values, color=s.colour, alpha=0.25, linewidth=0.8)
      axis.plot(steps, _smooth(values, smooth), color=s.colour, linewidth=1.6,
                marker="o" if len(steps) <= 20 else None, markersize=3,
                label=None if s.label in labelled else s.label)
      labelled.add(s.label)
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("iteration", fontsize=9)
    axis.tick_params(labelsize=8)
    axis.grid(alpha=0.3)
    if labelled:
      axis.legend(fontsize=8)
  figure.tight_layout()
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png")
  buffer.seek(0)
  return io_utils.png_bytes(compact(Image.open(buffer)), optimize=True)


def label_panel(path, info: labels_lib.DatasetInfo) -> Optional[np.ndarray]:
  """The colourised label map at `path` (None if missing)."""
  path = pathlib.Path(path)
  if not path.exists():
    return None
  return visualize.colourise(np.asarray(Image.open(path)), info)


def image_panel(path) -> Optional[np.ndarray]:
  path = pathlib.Path(path)
  if not path.exists():
    return None
  return np.asarray(Image.open(path).convert("RGB"))


def grid_rows(ids: Sequence[str], columns: Sequence[Tuple[str, Callable]]
              ) -> List[list]:
  """Rows for `panel_grid`: per id, the columns whose panel exists.

  Args:
    columns: (title, loader) pairs; loader(id) -> (panel or None,
      is_label_map).
  """
  rows = []
  for image_id in ids:
    row = []
    for title, loader in columns:
      panel, nearest = loader(image_id)
      if panel is not None:
        row.append((title, panel, nearest))
    if row:
      rows.append(row)
  return rows
