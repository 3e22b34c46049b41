"""Interactive views for JupyterLab (ipywidgets) that also run headless.

Each view is a small class: ``.widget`` is what the notebook displays, the sliders and
buttons are attributes, and the state they drive (e.g. the image currently decoded)
is an attribute too, so tests can set a slider and check what changed without a
browser. Displaying the object in a notebook displays its widget.

The views hold the sliders, the buttons and the state they drive; what they show is
computed where it belongs: the GAN's D and G steps in ``ganlab.gan``, Figure 1's
snapshots and drawing in ``ganlab.figure1``, image grids in ``ganlab.plots``.

An error raised by a slider or a button would go to JupyterLab's log console, which
students do not see: every view shows it in a line of its own instead
(:class:`CallbackErrors`, the view's ``errors``).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from torch import nn

from ganlab import toy
from ganlab.figure1 import check_stage, draw_figure1
from ganlab.gan import discriminator_step, generator_step, make_optimizer, sample_noise
from ganlab.inference import evaluating, module_device
from ganlab.losses import check_loss_kind, generator_loss
from ganlab.plots import figure_axes, image_grid, scatter_codes
from ganlab.validate import positive_int


class CallbackErrors:
    """The line of a view that shows the errors its callbacks raise.

    ipywidgets sends an exception raised in a callback (a button's ``on_click``, a
    slider's ``observe``) to JupyterLab's log console, so the view seems to do nothing.
    Each view passes its callbacks through :meth:`wrap` and puts :attr:`widget` in its
    layout: an error then shows there as ``Type: message`` in red, and the next callback
    that succeeds clears it. :attr:`last` is the error shown (``None`` when none is), with
    its traceback, for headless use: ``raise view.errors.last`` in a cell shows it in full.
    """

    def __init__(self):
        self.widget = W.HTML()
        self.last: Exception | None = None

    def wrap(self, callback: Callable) -> Callable:
        """``callback``, showing the error it raises here instead of raising it."""
        @functools.wraps(callback)
        def guarded(*args, **kwargs):
            try:
                result = callback(*args, **kwargs)
            except Exception as error:
                self.show(error)
                return None
            self.clear()
            return result
        return guarded

    def show(self, error: Exception) -> None:
        self.last = error
        message = html.escape(str(error)) or "(no message)"
        self.widget.value = (f'<div style="color: #b00020; white-space: pre-wrap">'
                             f"<b>{html.escape(type(error).__name__)}</b>: {message}</div>")

    def clear(self) -> None:
        self.last = None
        self.widget.value = ""


def _show(output: W.Output, fig) -> None:
    """Replace what ``output`` shows by the figure ``fig`` (then free it)."""
    output.clear_output(wait=True)
    with output:
        display(fig)
    plt.close(fig)


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
        self.errors = CallbackErrors()
        self.image: torch.Tensor | None = None  # the last decoded image, (C, H, W) in [-1, 1]
        for s in self.sliders:
            s.observe(self.errors.wrap(lambda change: self.update()), names="value")
        self.widget = W.VBox([W.HBox(self.sliders), self.errors.widget, self.output])
        self.update()

    @property
    def z(self) -> torch.Tensor:
        return torch.tensor([[s.value for s in self.sliders]], dtype=torch.float32)

    def update(self) -> None:
        with torch.no_grad():
            self.image = self.decode(self.z)[0].cpu()
        fig, (ax_codes, ax_image) = plt.subplots(1, 2, figsize=(9, 4.2))
        scatter_codes(self.codes, self.labels, ax=ax_codes, class_names=self.class_names, s=3)
        z = self.z[0].numpy()
        ax_codes.plot(z[0], z[1], "kx", ms=14, mew=3)
        ax_image.imshow(image_grid(self.image[None], nrow=1, padding=0))
        ax_image.set_title(f"decoded z = ({z[0]:.2f}, {z[1]:.2f})")
        ax_image.set_axis_off()
        _show(self.output, fig)

    def _ipython_display_(self):
        display(self.widget)


class LatentWalk:
    """Sliders over a few latent directions, applied to a row of codes at once.

    The images are ``G(z_i + sum_k alpha_k d_k)`` for each base code ``z_i``, one slider
    ``alpha_k`` per named direction ``d_k`` (an attribute vector from
    :func:`ganlab.latent.attribute_vector`, or a random unit direction). A direction the
    generator has learned changes one property in every image alike; a meaningless one
    changes them arbitrarily. ``G`` is any generator taking ``(N, latent_dim)`` codes
    (a GAN's generator, a VAE's or autoencoder's decoder); it is run in eval mode.
    """

    def __init__(self, G: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                 directions: dict[str, torch.Tensor], span: float = 3.0, nrow: int | None = None):
        if not isinstance(z, torch.Tensor) or z.dim() != 2:
            raise ValueError(f"z must be base codes of shape (N, latent_dim), got "
                             f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
        if not directions:
            raise ValueError("give at least one direction, e.g. {'thickness': v}")
        for name, d in directions.items():
            if not isinstance(d, torch.Tensor) or d.shape != z.shape[1:]:
                raise ValueError(f"direction {name!r} must have shape ({z.shape[1]},), got "
                                 f"{tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__}")
        self.G, self.z, self.nrow = G, z.detach().cpu(), nrow or len(z)
        self.directions = {name: d.detach().cpu().float() for name, d in directions.items()}
        self.sliders = {name: W.FloatSlider(value=0.0, min=-span, max=span, step=span / 20,
                                            description=name, continuous_update=False)
                        for name in self.directions}
        self.errors = CallbackErrors()
        self.reset_button = W.Button(description="reset")
        self.reset_button.on_click(self.errors.wrap(lambda _: self.reset()))
        self.output = W.Output()
        self.images: torch.Tensor | None = None  # the last generated batch, (N, C, H, W)
        self._on_slide = self.errors.wrap(lambda change: self.update())
        for slider in self.sliders.values():
            slider.observe(self._on_slide, names="value")
        self.widget = W.VBox([W.HBox([W.VBox(list(self.sliders.values())), self.reset_button]),
                              self.errors.widget, self.output])
        self.update()

    @property
    def codes(self) -> torch.Tensor:
        """The codes shown now: ``z + sum_k alpha_k d_k``."""
        shift = sum(s.value * self.directions[name] for name, s in self.sliders.items())
        return self.z + shift

    def reset(self) -> None:
        """All sliders back to 0, then one redraw (not one per slider)."""
        for slider in self.sliders.values():
            slider.unobserve(self._on_slide, names="value")
            slider.value = 0.0
            slider.observe(self._on_slide, names="value")
        self.update()

    def update(self) -> None:
        modules = [self.G] if isinstance(self.G, nn.Module) else []
        with evaluating(*modules):
            device = module_device(self.G) if modules else torch.device("cpu")
            self.images = self.G(self.codes.to(device)).cpu()
        fig, ax = plt.subplots(figsize=(0.9 * self.nrow, 0.9 * -(-len(self.z) // self.nrow) + 0.4))
        ax.imshow(image_grid(self.images, nrow=self.nrow), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(", ".join(f"{name} = {s.value:+.2f}" for name, s in self.sliders.items()))
        _show(self.output, fig)

    def _ipython_display_(self):
        display(self.widget)


class RealOrFake:
    """Rapid categorisation: an image is shown for a moment; was it real or generated?

    A human-evaluation protocol in miniature (after the short-exposure experiments of
    Denton et al., 2015, and Salimans et al., 2016): each trial draws, with a fair coin,
    a real or a generated image; it is shown for ``exposure`` seconds and then hidden;
    the viewer answers with a button. :meth:`summary` gives the accuracy (0.5 = the fakes
    fool the viewer completely) and how often fakes were taken for real.

    The answer buttons are enabled only while a trial is up (after "show next image").
    Headless use (tests, or a simulated rater): :meth:`next_trial` then :meth:`answer`.
    """

    def __init__(self, real: torch.Tensor, fake: torch.Tensor, exposure: float = 0.5,
                 seed: int = 0):
        for name, images in (("real", real), ("fake", fake)):
            if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
                raise ValueError(f"{name} must be a non-empty batch of images (N, C, H, W) in [-1, 1]")
        if real.shape[1:] != fake.shape[1:]:
            raise ValueError(f"real and fake images differ in shape: {tuple(real.shape[1:])} "
                             f"vs {tuple(fake.shape[1:])}")
        if exposure <= 0:
            raise ValueError(f"exposure must be > 0 seconds, got {exposure}")
        self.real, self.fake, self.exposure = real.cpu(), fake.cpu(), exposure
        self.generator = torch.Generator().manual_seed(seed)
        self.records: list[dict] = []     # one per answered trial: {"truth", "answer"}
        self.current: dict | None = None  # the trial on screen: {"truth", "index"}
        self.image = W.Image(format="png", width=140, height=140)
        self.start = W.Button(description="show next image")
        self.buttons = [W.Button(description="real"), W.Button(description="fake")]
        self.status = W.HTML()
        self.errors = CallbackErrors()
        self.start.on_click(self.errors.wrap(lambda _: self.next_trial(show=True)))
        for button in self.buttons:
            button.on_click(self.errors.wrap(lambda pressed: self.answer(pressed.description)))
        self.widget = W.VBox([self.start, self.image, W.HBox(self.buttons), self.status,
                              self.errors.widget])
        self._update_status()

    def next_trial(self, show: bool = False) -> torch.Tensor:
        """Draw the next trial; return its image (and flash it in the widget if ``show``)."""
        truth = "real" if torch.rand((), generator=self.generator) < 0.5 else "fake"
        pool = self.real if truth == "real" else self.fake
        index = int(torch.randint(len(pool), (), generator=self.generator))
        self.current = {"truth": truth, "index": index}
        self._update_status()
        if show:
            self._flash(pool[index])
        return pool[index]

    def answer(self, said: str) -> bool:
        """Record the answer ``"real"`` or ``"fake"`` to the current trial; return whether it was right."""
        if said not in ("real", "fake"):
            raise ValueError(f"answer 'real' or 'fake', got {said!r}")
        if self.current is None:
            raise ValueError(f"no image on screen: press {self.start.description!r} to see an image "
                             "first (or call next_trial())")
        self.records.append({"truth": self.current["truth"], "answer": said})
        self.current = None
        self._update_status()
        return self.records[-1]["truth"] == said

    def summary(self) -> dict:
        """``trials``, ``accuracy`` and ``fooled`` = the fraction of fakes answered "real"."""
        fakes = [r for r in self.records if r["truth"] == "fake"]
        right = sum(r["truth"] == r["answer"] for r in self.records)
        return {"trials": len(self.records),
                "accuracy": right / len(self.records) if self.records else float("nan"),
                "fooled": (sum(r["answer"] == "real" for r in fakes) / len(fakes)
                           if fakes else float("nan"))}

    def _flash(self, image: torch.Tensor) -> None:
        import io
        import threading

        buffer = io.BytesIO()
        plt.imsave(buffer, image_grid(image[None], nrow=1, padding=0), format="png")
        self.image.value = buffer.getvalue()
        blank = io.BytesIO()
        plt.imsave(blank, np.ones((28, 28, 3)), format="png")
        threading.Timer(self.exposure, lambda: setattr(self.image, "value", blank.getvalue())).start()

    def _update_status(self) -> None:
        """The score so far (never ``nan``), and the answer buttons on only while a trial is up."""
        for button in self.buttons:
            button.disabled = self.current is None
        s = self.summary()
        if not s["trials"]:
            self.status.value = f"no answers yet: press {self.start.description!r} to see the first image"
            return
        fooled = (f"fakes taken for real {s['fooled']:.0%}" if not np.isnan(s["fooled"])
                  else "no fakes answered yet")
        self.status.value = f"{s['trials']} answered: accuracy {s['accuracy']:.0%}, {fooled}"

    def _ipython_display_(self):
        display(self.widget)


# --- Units 03-04: watching a GAN train ---------------------------------------------------
#
# Both views below need the generator G (noise z -> data x) and the discriminator D
# (data x -> logit l, D(x) = s(l) = the probability that x is real) of ganlab.models.gan.
# Drawing never changes the models: they are evaluated in eval mode without gradients,
# and their train/eval modes are restored afterwards (ganlab.inference.evaluating).


class Figure1View:
    """Step through stages of training with a slider, each drawn as Figure 1 (:func:`ganlab.figure1.draw_figure1`).

    ``stages`` are dicts from :func:`ganlab.figure1.capture_stage`, e.g. taken every epoch by the
    ``on_epoch_end`` callback of ``ganlab.gan.train_gan`` (pass a ``generator`` to
    ``capture_stage`` there, so the snapshots do not change the global random state).
    ``self.slider`` picks the stage, ``self.current`` is its index.
    """

    def __init__(self, stages: list[dict], labels: list[str] | None = None):
        stages = list(stages)
        if not stages:
            raise ValueError("Figure1View needs at least one stage (a dict from capture_stage), got none")
        for stage in stages:
            check_stage(stage)
        if labels is None:
            labels = [f"stage {i + 1} of {len(stages)}" for i in range(len(stages))]
        labels = list(labels)
        if len(labels) != len(stages):
            raise ValueError(f"need one label per stage: got {len(labels)} labels for {len(stages)} stages")
        self.stages, self.labels = stages, labels
        self.slider = W.IntSlider(value=0, min=0, max=len(stages) - 1, description="stage",
                                  continuous_update=False)
        self.output = W.Output()
        self.errors = CallbackErrors()
        self.current = 0
        self.slider.observe(self.errors.wrap(lambda change: self.update()), names="value")
        self.widget = W.VBox([self.slider, self.errors.widget, self.output])
        self.update()

    def update(self) -> None:
        self.current = int(self.slider.value)
        _show(self.output, draw_figure1(self.stages[self.current], title=self.labels[self.current]))

    def _ipython_display_(self):
        display(self.widget)


class GANLab2D:
    """Train a GAN on 2-D data one step at a time and watch it (after Kahng et al., GAN Lab, 2018).

    The picture: the discriminator's ``D(x)`` on the plane as a heatmap (purple: D says
    fake, green: D says real, the dashed contour and the mark on the colour bar at
    ``D(x) = 1/2``), ``n_show`` fixed real points ``x ~ p_data``, the fakes ``G(z)`` of
    ``n_show`` fixed noise vectors ``z ~ p_z``, and on a subset of the fakes the arrows of
    :meth:`generator_gradients`: where the generator's cost pushes each fake sample.

    ``sample_real(n, generator)`` must return a tensor of ``n`` real points, shape ``(n, 2)``
    (e.g. ``ganlab.toy.ring().sample``). The view owns the two optimizers
    (``ganlab.gan.make_optimizer``: ``optimizer``, ``lr_d``, ``lr_g``) and one private
    ``torch.Generator`` seeded with ``seed`` for all its sampling, so using it never changes
    the global random state. ``loss`` is the generator cost of ``ganlab.losses.generator_loss``,
    ``m`` the minibatch size, ``noise`` the kind of ``p_z``. ``lim`` sets the square shown:
    a number ``L`` for ``[-L, L]^2``, a pair ``(lo, hi)`` for ``[lo, hi]^2``, or ``None`` to
    fit the real points with a margin; ``grid_size`` is the heatmap's resolution.

    Buttons: one D step, one G step, and N iterations of Algorithm 1 with ``k = 1``.
    State: ``d_steps``, ``g_steps`` and ``history``, the list of the dicts the step
    functions returned (``d_loss``, ``d_real``, ``d_fake``, ``grad_norm_d``, or ``g_loss``,
    ``grad_norm_g``).
    """

    N_ARROWS = 64  # arrows drawn on at most this many of the fakes

    def __init__(self, G: nn.Module, D: nn.Module, sample_real: Callable, *, m: int = 128,
                 loss: str = "non_saturating", optimizer: str = "adam", lr_d: float = 1e-3,
                 lr_g: float = 1e-3, noise: str = "normal", n_show: int = 512, lim=None,
                 grid_size: int = 60, seed: int = 0):
        check_loss_kind(loss)
        self.G, self.D, self.sample_real = G, D, sample_real
        self.m = positive_int(m, "m (the minibatch size)")
        self.n_show = positive_int(n_show, "n_show")
        self.grid_size = positive_int(grid_size, "grid_size", 2)
        self.loss, self.noise = loss, toy.check_noise_kind(noise)
        self.opt_d = make_optimizer(D, optimizer, lr_d)
        self.opt_g = make_optimizer(G, optimizer, lr_g)
        self.rng = torch.Generator().manual_seed(seed)
        self.device = module_device(G)
        self.x_show = self._sample_real(self.n_show)
        self.z_show = sample_noise(G, self.n_show, noise, self.device, generator=self.rng)
        self.fakes()  # checks that G makes 2-D points
        self.extent = self._extent(lim)
        self.d_steps = self.g_steps = 0
        self.history: list[dict] = []

        self.d_button = W.Button(description="one D step")
        self.g_button = W.Button(description="one G step")
        self.n_steps = W.IntText(value=50, description="N", layout=W.Layout(width="140px"))
        self.train_button = W.Button(description="train N steps")
        self.errors = CallbackErrors()
        self.d_button.on_click(self.errors.wrap(lambda button: (self.d_step(), self.render())))
        self.g_button.on_click(self.errors.wrap(lambda button: (self.g_step(), self.render())))
        self.train_button.on_click(self.errors.wrap(
            lambda button: (self.train(self.n_steps.value), self.render())))
        self.output = W.Output()
        self.widget = W.VBox([W.HBox([self.d_button, self.g_button, self.n_steps, self.train_button]),
                              self.errors.widget, self.output])
        self.render()

    # --- sampling and training ---

    def _sample_real(self, n: int) -> torch.Tensor:
        x = self.sample_real(n, self.rng)
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (n, 2):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"sample_real(n, generator) must return a tensor of n 2-D points, "
                             f"shape (n, 2) = ({n}, 2), got {got}")
        return x.float().to(self.device)

    def _noise(self, n: int) -> torch.Tensor:
        return sample_noise(self.G, n, self.noise, self.device, generator=self.rng)

    def _extent(self, lim) -> tuple[float, float]:
        if lim is None:
            half = 1.3 * float(self.x_show.abs().max())
            half = float(np.ceil(2 * half) / 2) if half > 0 else 1.0
            return -half, half
        if np.ndim(lim) == 0:
            lo, hi = -float(lim), float(lim)
        elif np.shape(lim) == (2,):
            lo, hi = (float(v) for v in lim)
        else:
            lo = hi = 0.0
        if not hi > lo:
            raise ValueError(f"lim must be L > 0 (for [-L, L]^2) or a pair (lo, hi) with lo < hi, got {lim!r}")
        return lo, hi

    def fakes(self) -> torch.Tensor:
        """The fake points drawn, ``G(z_show)``, shape ``(n_show, 2)`` (no gradients)."""
        with evaluating(self.G):
            x_f = self.G(self.z_show)
        if tuple(x_f.shape) != (self.n_show, 2):
            raise ValueError(f"G must map noise of shape (N, latent_dim) to 2-D points of shape (N, 2), "
                             f"got {tuple(x_f.shape)} for N = {self.n_show}")
        return x_f

    def d_step(self) -> dict:
        """One ``ganlab.gan.discriminator_step`` on ``m`` fresh real points and ``m`` fresh ``z``."""
        record = discriminator_step(self.G, self.D, self.opt_d, self._sample_real(self.m),
                                    self._noise(self.m))
        self.d_steps += 1
        self.history.append(record)
        return record

    def g_step(self) -> dict:
        """One ``ganlab.gan.generator_step`` on ``m`` fresh ``z`` (D is not updated)."""
        record = generator_step(self.G, self.D, self.opt_g, self._noise(self.m), self.loss)
        self.g_steps += 1
        self.history.append(record)
        return record

    def train(self, n: int) -> None:
        """``n`` iterations of Algorithm 1 with ``k = 1``: a D step, then a G step."""
        for _ in range(positive_int(n, "the number of steps", 0)):
            self.d_step()
            self.g_step()

    def generator_gradients(self) -> torch.Tensor:
        """``-d l_G(x_f) / d x_f`` for each fake point ``x_f = G(z_show)``: shape ``(n_show, 2)``.

        ``l_G`` is the generator's cost for one sample (``ganlab.losses.generator_loss`` of
        the chosen kind), and the fakes are treated as leaf tensors: this is the direction
        in which the cost pushes each fake sample, before it is passed back through G to
        its parameters. With ``l = s^{-1}(D(x))`` the logit:

        * non-saturating, ``l_G = -log D(x)``:   ``-grad = (1 - D(x)) grad_x l(x)``
        * minimax, ``l_G = log(1 - D(x))``:        ``-grad = D(x) grad_x l(x)``, vanishing where
          D confidently rejects the fakes;
        * maximum likelihood, ``l_G = -exp(l) / 2``: ``-grad = exp(l(x)) grad_x l(x) / 2``.

        All point up the slope of D's logit, toward where D says "real". (``generator_loss``
        averages over the batch, so its gradient is multiplied by ``n_show`` to give the
        per-sample one: each fake's logit depends on that fake only.)
        """
        x_f = self.fakes().detach().requires_grad_(True)
        with evaluating(self.D, grad=True):
            cost = generator_loss(self.D(x_f), self.loss)
            (grad,) = torch.autograd.grad(cost, x_f)
        return -grad * len(x_f)

    # --- drawing ---

    def _latest(self, key: str) -> str:
        value = next((record[key] for record in reversed(self.history) if key in record), None)
        return "-" if value is None else f"{value:.3f}"

    def plot(self, ax=None):
        """Draw the current state (see the class docstring); returns the Figure."""
        fig, ax = figure_axes(ax, (6.6, 5.4))
        lo, hi = self.extent
        ticks = torch.linspace(lo, hi, self.grid_size)
        gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
        with evaluating(self.D):
            prob = torch.sigmoid(self.D(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(self.device)))
        prob = prob.reshape(self.grid_size, self.grid_size).cpu().numpy()
        mesh = ax.imshow(prob, extent=(lo, hi, lo, hi), origin="lower", cmap="PRGn", vmin=0.0,
                         vmax=1.0, alpha=0.7, interpolation="bilinear")
        if prob.min() < 0.5 < prob.max():
            ax.contour(gx.numpy(), gy.numpy(), prob, levels=[0.5], colors="k", linewidths=1,
                       linestyles="--")
        bar = fig.colorbar(mesh, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1], fraction=0.046, pad=0.03)
        bar.ax.axhline(0.5, color="k", lw=2)
        bar.set_label("D(x) = P(x is real)")

        real = self.x_show.cpu().numpy()
        fake = self.fakes().cpu().numpy()
        ax.scatter(real[:, 0], real[:, 1], s=14, c="#1b7837", edgecolors="k", linewidths=0.5,
                   label=r"real $x \sim p_\mathrm{data}$", zorder=3)
        ax.scatter(fake[:, 0], fake[:, 1], s=12, c="#762a83", edgecolors="white", linewidths=0.5,
                   label=r"fake $G(z)$", zorder=3)

        pick = np.unique(np.linspace(0, self.n_show - 1, min(self.n_show, self.N_ARROWS)).astype(int))
        push = self.generator_gradients()[pick].cpu().numpy()
        longest = float(np.linalg.norm(push, axis=1).max())
        length = 0.12 * (hi - lo)  # the longest arrow, in data units
        arrows = ax.quiver(fake[pick, 0], fake[pick, 1], push[:, 0], push[:, 1], angles="xy",
                           scale_units="xy", scale=longest / length if longest > 0 else 1.0,
                           color="k", width=0.004, zorder=4)
        ax.quiverkey(arrows, 0.13, 0.035, longest if longest > 0 else 1.0,
                     rf"$-\nabla_x$ {self.loss.replace('_', '-')} cost, longest $|\cdot|$ = {longest:.2g}",
                     labelpos="E", coordinates="axes", fontproperties={"size": 8})

        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.85, markerscale=1.5)
        ax.set_title(f"D steps {self.d_steps}, G steps {self.g_steps}:  "
                     f"d_loss {self._latest('d_loss')}, g_loss {self._latest('g_loss')}", fontsize=10)
        return fig

    def render(self) -> None:
        """Redraw the picture in ``self.output``."""
        _show(self.output, self.plot())

    def _ipython_display_(self):
        display(self.widget)
