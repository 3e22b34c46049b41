"""Interactive views for JupyterLab (ipywidgets) that also run headless.

Each view is a small class: ``.widget`` is what the notebook displays, the sliders and
buttons are attributes, and the state they drive (e.g. the image currently decoded)
is an attribute too, so tests can set a slider and check what changed without a
browser. Displaying the object in a notebook displays its widget.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from ganlab.plots import image_grid, scatter_codes


class LatentExplorer:
    """Move a point through a 2-D latent space and watch the decoder's output.

    Left: the codes of real images coloured by class, with the current point ``z`` as a
    black cross. Right: ``g_phi(z)``. Two sliders set ``z = (z_1, z_2)``; their ranges
    cover the codes with a margin, so one can also wander *off* the data and see what a
    plain autoencoder makes there.
    """

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], codes, labels,
                 class_names=None, margin: float = 0.5):
        codes = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes)
        if codes.ndim != 2 or codes.shape[1] != 2:
            raise ValueError(f"LatentExplorer needs 2-D codes of shape (N, 2), got {codes.shape}")
        self.decode = decode
        self.codes, self.labels, self.class_names = codes, labels, class_names
        lo, hi = codes.min(0), codes.max(0)
        pad = margin * (hi - lo)
        start = np.median(codes, axis=0)
        self.sliders = [
            W.FloatSlider(value=float(start[i]), min=float(lo[i] - pad[i]),
                          max=float(hi[i] + pad[i]), step=float((hi[i] - lo[i]) / 200),
                          description=f"z{i + 1}", continuous_update=False)
            for i in range(2)
        ]
        self.output = W.Output()
        self.image: torch.Tensor | None = None  # the last decoded image, (C, H, W) in [-1, 1]
        for s in self.sliders:
            s.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([W.HBox(self.sliders), self.output])
        self.update()

    @property
    def z(self) -> torch.Tensor:
        return torch.tensor([[s.value for s in self.sliders]], dtype=torch.float32)

    def update(self) -> None:
        with torch.no_grad():
            self.image = self.decode(self.z)[0].cpu()
        self.output.clear_output(wait=True)
        with self.output:
            fig, (ax_codes, ax_image) = plt.subplots(1, 2, figsize=(9, 4.2))
            scatter_codes(self.codes, self.labels, ax=ax_codes, class_names=self.class_names, s=3)
            z = self.z[0].numpy()
            ax_codes.plot(z[0], z[1], "kx", ms=14, mew=3)
            ax_image.imshow(image_grid(self.image[None], nrow=1, padding=0))
            ax_image.set_title(f"decoded z = ({z[0]:.2f}, {z[1]:.2f})")
            ax_image.set_axis_off()
            display(fig)
            plt.close(fig)

    def _ipython_display_(self):
        display(self.widget)
