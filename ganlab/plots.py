"""Figures shared by the notebooks: image grids, loss curves, latent spaces.

Images are tensors in [-1, 1] of shape ``(N, C, H, W)``; every function maps them back
to [0, 1] for display. Each function draws into ``ax`` when given one and returns the
matplotlib ``Figure`` it drew on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid

from ganlab.train import History


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Map images from [-1, 1] to [0, 1] (clamped), on the CPU, without gradients."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 10, padding: int = 1) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images in [-1, 1] into one ``(H', W', 3)`` array in [0, 1]."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    grid = make_grid(to_pixels(images), nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def figure_axes(ax, figsize):
    """``(figure, ax)``: ``ax``'s own figure, or a new figure of ``figsize`` with one axes."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def show_images(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None,
                scale: float = 0.6):
    """Show a grid of images."""
    n = len(images)
    rows = -(-n // nrow)
    fig, ax = figure_axes(ax, (scale * min(n, nrow), scale * rows + (0.4 if title else 0)))
    ax.imshow(image_grid(images, nrow=nrow), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def show_rows(rows: Mapping[str, torch.Tensor], n: int = 10, scale: float = 0.7):
    """One labelled row per entry, e.g. ``{"input": x, "reconstruction": x_hat}``."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(scale * n, scale * len(rows) * 1.15),
                             squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items(), strict=True):
        ax.imshow(image_grid(images[:n], nrow=n), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_history(history: History, keys: Sequence[str] | None = None, ax=None,
                 title: str | None = None, logy: bool = False):
    """Per-step values (faint) and their per-epoch means (bold) against the step."""
    fig, ax = figure_axes(ax, (6, 3.5))
    keys = list(keys or history.keys())
    steps = history["step"]
    epochs = history["epoch"].astype(int)
    for key in keys:
        (line,) = ax.plot(steps, history[key], alpha=0.25, lw=0.8)
        ends = np.array([steps[epochs == e].max() for e in np.unique(epochs)])
        ax.plot(ends, history.epoch_mean(key), "o-", color=line.get_color(), ms=3,
                label=f"{key} (epoch mean)")
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def scatter_codes(codes, labels, ax=None, class_names: Sequence[str] | None = None,
                  title: str | None = None, s: float = 6):
    """2-D codes coloured by class, with a legend."""
    codes = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if codes.ndim != 2 or codes.shape[1] != 2 or len(codes) != len(labels):
        raise ValueError(f"expected codes of shape (N, 2) and N labels, got {codes.shape} "
                         f"and {labels.shape}")
    fig, ax = figure_axes(ax, (5, 5))
    cmap = plt.get_cmap("tab10")
    for c in np.unique(labels):
        pts = codes[labels == c]
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(pts[:, 0], pts[:, 1], s=s, color=cmap(int(c) % 10), label=name, alpha=0.7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(markerscale=2, fontsize=8, loc="best", ncol=2)
    if title:
        ax.set_title(title)
    return fig


def code_grid(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """All 2-D codes ``(z1[j], z2[i])`` in picture order, shape ``(len(z2) * len(z1), 2)``.

    ``z1`` and ``z2`` are increasing. Row by row as an image is read: the first row has
    the *largest* ``z_2``, and each row runs from the smallest ``z_1`` to the largest, so
    ``image_grid(decode(code_grid(z1, z2)), nrow=len(z1))`` shows the latent plane as plotted.
    """
    rows, cols = torch.meshgrid(torch.as_tensor(z2).flip(0), torch.as_tensor(z1), indexing="ij")
    return torch.stack([cols, rows], dim=-1).reshape(-1, 2)


@torch.no_grad()
def decode_grid(decode: Callable[[torch.Tensor], torch.Tensor], xlim, ylim, n: int = 15,
                device="cpu") -> torch.Tensor:
    """Decode an ``n x n`` grid of 2-D codes (:func:`code_grid`); row 0 is the *top* (largest ``z_2``)."""
    grid = code_grid(torch.linspace(xlim[0], xlim[1], n), torch.linspace(ylim[0], ylim[1], n))
    return decode(grid.to(device)).cpu()


def show_latent_grid(decode, xlim, ylim, n: int = 15, ax=None, title: str | None = None,
                     device="cpu"):
    """The 2-D latent space as a picture: what the decoder makes at each point of a grid."""
    images = decode_grid(decode, xlim, ylim, n, device=device)
    fig, ax = figure_axes(ax, (6, 6))
    ax.imshow(image_grid(images, nrow=n, padding=0),
              extent=(xlim[0], xlim[1], ylim[0], ylim[1]), interpolation="nearest")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig


def show_quality(label: str, images: torch.Tensor, quality: Mapping, nrow: int = 12):
    """A generator at a glance: its samples, and what the digit classifier makes of them.

    ``quality`` is :func:`ganlab.quality.digit_quality`'s dict; the bar chart is its
    ``class_shares`` against the fair 10% (dashed), red where a share lies outside
    5-16% (the Unit 03 target), and the title its four numbers.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 2.5), gridspec_kw={"width_ratios": [3, 1]})
    ax1.imshow(image_grid(images, nrow=nrow))
    ax1.set_axis_off()
    ax1.set_title(f"{label}: confidence {quality['confidence']:.3f}, FID {quality['fid']:.1f}, "
                  f"IS {quality['inception_score']:.2f}", fontsize=10)
    shares = np.asarray(quality["class_shares"])
    ax2.bar(range(len(shares)), 100 * shares, color=np.where((shares < 0.05) | (shares > 0.16), "C3", "C0"))
    ax2.axhline(100 / len(shares), color="k", ls="--", lw=0.8)
    ax2.set(xticks=range(len(shares)), ylabel="% of samples", title="digits drawn")
    ax2.title.set_fontsize(10)
    return fig


def _check_snapshots(snapshots: Sequence[torch.Tensor]) -> None:
    if len(snapshots) == 0:
        raise ValueError("no snapshots: train with ganlab.gan.train_gan, which keeps G(z_fixed) "
                         "after every epoch (GANRun.snapshots)")
    if any(s.dim() != 4 or s.shape != snapshots[0].shape for s in snapshots):
        raise ValueError("snapshots must be image batches (N, C, H, W) of one shape, got "
                         f"{sorted({tuple(s.shape) for s in snapshots})}")


def show_snapshots(snapshots: Sequence[torch.Tensor], epochs: Sequence[int] | None = None,
                   n: int = 10, scale: float = 0.7):
    """Rows of ``G(z_fixed)`` after chosen epochs (1-based; default: about five, ending at the last)."""
    _check_snapshots(snapshots)
    total = len(snapshots)
    if epochs is None:
        epochs = sorted({int(e) for e in np.linspace(1, total, min(total, 5)).round()})
    bad = [e for e in epochs if not 1 <= e <= total]
    if bad:
        raise ValueError(f"epochs must be in 1..{total} (the snapshots taken), got {bad}")
    return show_rows({f"epoch {e}": snapshots[e - 1] for e in epochs}, n=n, scale=scale)


def animate_snapshots(snapshots: Sequence[torch.Tensor], nrow: int = 8, interval: int = 300,
                      scale: float = 0.5):
    """A matplotlib animation of the fixed-noise grids, one frame per epoch.

    In a notebook: ``HTML(animation_html(animate_snapshots(run.snapshots)))`` (a player
    with buttons that works offline, no ffmpeg needed); ``.save("training.gif",
    writer="pillow")`` writes a GIF.
    """
    from matplotlib.animation import FuncAnimation

    _check_snapshots(snapshots)
    rows = -(-len(snapshots[0]) // nrow)
    fig, ax = plt.subplots(figsize=(scale * nrow, scale * rows + 0.4))
    picture = ax.imshow(image_grid(snapshots[0], nrow=nrow), interpolation="nearest")
    ax.set_axis_off()
    title = ax.set_title("epoch 1")

    def frame(i):
        picture.set_data(image_grid(snapshots[i], nrow=nrow))
        title.set_text(f"epoch {i + 1}")
        return picture, title

    animation = FuncAnimation(fig, frame, frames=len(snapshots), interval=interval, blit=False)
    plt.close(fig)  # the animation keeps the figure; do not also show it as a still
    return animation


#: The icons of matplotlib's HTML player (font-awesome classes) as plain characters.
PLAYER_GLYPHS = {
    "fa-minus": "−", "fa-fast-backward": "|◀◀", "fa-step-backward": "|◀",
    "fa-play fa-flip-horizontal": "◀", "fa-pause": "❚❚", "fa-play": "▶",
    "fa-step-forward": "▶|", "fa-fast-forward": "▶▶|", "fa-plus": "+",
}


def animation_html(animation) -> str:
    """``animation`` as a self-contained HTML player, for ``IPython.display.HTML``.

    It is matplotlib's ``animation.to_jshtml()`` (the frames embedded as PNG data, a
    slider and buttons) made to work offline: that player loads its icons, a font-awesome
    stylesheet, from a CDN, so without network its buttons are blank. Here the remote
    stylesheet is dropped and each icon becomes plain characters (:data:`PLAYER_GLYPHS`:
    ``▶``, ``❚❚``, ``|◀`` ...); the buttons keep their titles (``"Play"``, ...).
    """
    import re

    page = animation.to_jshtml()
    page = re.sub(r"<link\b[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", "", page)

    def glyph(icon: re.Match) -> str:
        name = icon.group(1).strip()
        return PLAYER_GLYPHS.get(name, name.removeprefix("fa-"))

    return re.sub(r'<i class="fa ([^"]*)"></i>', glyph, page)


#: The taxonomy of generative models (Goodfellow, NIPS 2016 tutorial, Fig. 9), as
#: (name, parent, where it appears in this course).
TAXONOMY = [
    ("maximum likelihood", None, ""),
    ("explicit density", "maximum likelihood", ""),
    ("implicit density", "maximum likelihood", ""),
    ("tractable density", "explicit density", ""),
    ("approximate density", "explicit density", ""),
    ("autoregressive:\nPixelRNN / PixelCNN,\nMADE", "tractable density", "Unit 02"),
    ("variational:\nVAE", "approximate density", "Unit 02"),
    ("Markov chain:\nBoltzmann machine", "approximate density", ""),
    ("direct:\nGAN, DCGAN, WGAN", "implicit density", "Units 03-07"),
    ("Markov chain:\nGSN", "implicit density", ""),
]


def draw_taxonomy(ax=None):
    """Draw :data:`TAXONOMY` as a tree; models this course builds are highlighted."""
    fig, ax = figure_axes(ax, (11, 4.8))
    children: dict = {}
    for name, parent, _ in TAXONOMY:
        children.setdefault(parent, []).append(name)
    course = {name: where for name, _, where in TAXONOMY}
    position: dict = {}

    def place(name, depth, next_leaf):  # leaves left to right, parents centred above
        kids = children.get(name, [])
        if not kids:
            position[name] = (next_leaf, -depth)
            return next_leaf + 1
        for kid in kids:
            next_leaf = place(kid, depth + 1, next_leaf)
        position[name] = (np.mean([position[k][0] for k in kids]), -depth)
        return next_leaf

    place("maximum likelihood", 0, 0)
    for name, parent, _ in TAXONOMY:
        if parent is not None:
            (x0, y0), (x1, y1) = position[parent], position[name]
            ax.plot([x0, x1], [y0 - 0.15, y1 + 0.15], color="0.6", lw=1, zorder=1)
    for name, (x, y) in position.items():
        where = course[name]
        ax.text(x, y, name + (f"\n[{where}]" if where else ""), ha="center", va="center",
                fontsize=9, zorder=2,
                bbox={"boxstyle": "round", "fc": "#ffe9a8" if where else "white", "ec": "0.4"})
    ax.set_xlim(-0.7, max(p[0] for p in position.values()) + 0.7)
    ax.set_ylim(min(p[1] for p in position.values()) - 0.6, 0.5)
    ax.set_axis_off()
    ax.set_title("a taxonomy of generative models (highlighted: built in this course)")
    return fig


#: Block diagrams of the course's architectures, from the autoencoder (Unit 01) to the GAN
#: variants Unit 07 explains without implementing. Each is ``(title, nodes, edges)``:
#: ``nodes`` maps a key to ``(x, y, label, kind)``, with kind "data" (inputs and images),
#: "net" (a trained network) or "loss"; ``edges`` are ``(from, to, label)`` for the forward
#: computation, or ``(from, to, label, "grad")`` for a gradient flowing back (dashed, red,
#: arcing below the straight line; ``(from, to, label, "grad", bend)`` sets the arc, as
#: matplotlib's ``arc3`` ``rad``: positive bends the other way).
ARCHITECTURES = {
    "Autoencoder": ("An autoencoder (Unit 01): squeeze the image through a short code and back", {
        "x": (0, 1, "image x\n784 pixels", "data"), "f": (2, 1, "encoder f_θ", "net"),
        "z": (4, 1, "code z = f_θ(x)\n(much shorter)", "data"), "g": (6, 1, "decoder g_φ", "net"),
        "xr": (8, 1, "reconstruction\nx' = g_φ(z)", "data"),
        "loss": (4, -0.3, "L(x, x') = ||x − x'||² / D", "loss")},
        [("x", "f", ""), ("f", "z", ""), ("z", "g", ""), ("g", "xr", ""), ("xr", "loss", ""),
         ("x", "loss", "")]),
    "VAE": ("The VAE (Unit 02): the reparameterised sample lets gradients reach the encoder", {
        "x": (0, 1, "image x", "data"), "enc": (2, 1, "encoder\nq_φ(z | x)", "net"),
        "mu": (4, 1.9, "mean μ", "data"), "sig": (4, 0.1, "log σ²", "data"),
        "eps": (6, 2.6, "ε ~ N(0, I)\n(no parameters)", "data"),
        "z": (6, 1, "z = μ + σ ⊙ ε", "data"), "dec": (8, 1, "decoder\np_θ(x | z)", "net"),
        "rec": (10, 1, "reconstruction\nlog p_θ(x | z)", "loss"),
        "kl": (6, -0.6, "KL(q_φ(z | x) ‖ N(0, I))\nclosed form", "loss")},
        [("x", "enc", ""), ("enc", "mu", ""), ("enc", "sig", ""), ("mu", "z", ""), ("sig", "z", ""),
         ("eps", "z", ""), ("z", "dec", ""), ("dec", "rec", ""), ("mu", "kl", ""), ("sig", "kl", ""),
         ("z", "mu", "∂z/∂μ = 1", "grad"), ("z", "sig", "∂z/∂σ = ε", "grad")]),
    "GAN": ("The GAN game (Unit 03): D learns to tell, G learns through D's gradient", {
        "z": (0, 0.3, "noise z ~ p_z", "data"), "G": (2, 0.3, "generator G", "net"),
        "fake": (4, 0.3, "fake G(z)", "data"), "real": (4, 2.1, "real x ~ p_data", "data"),
        "D": (6, 1.2, "discriminator D", "net"), "out": (8, 1.2, "D(·) = s(l(·))\nP(real)", "data"),
        "LD": (10, 2.1, "L_D: BCE\n(real 1, fake 0)", "loss"),
        "LG": (10, 0.3, "L_G = −log D(G(z))", "loss")},
        [("z", "G", ""), ("G", "fake", ""), ("fake", "D", ""), ("real", "D", ""), ("D", "out", ""),
         ("out", "LD", ""), ("out", "LG", ""),
         ("LD", "D", "∇ updates D", "grad", 0.35), ("LG", "G", "∇ through D, updates G only", "grad")]),
    "DCGAN generator": ("The cpu28 DCGAN generator (Unit 05): each stride-2 transposed "
                        "convolution doubles the size", {
        "z": (0, 1, "z\n64 numbers", "data"), "n1": (1.6, 1, "ConvT 7x7\nBN, ReLU", "net"),
        "a1": (3.2, 1, "128 maps\n7 x 7", "data"),
        "n2": (4.8, 1, "ConvT 4x4, stride 2\nBN, ReLU", "net"),
        "a2": (6.4, 1, "64 maps\n14 x 14", "data"),
        "n3": (8.0, 1, "ConvT 4x4, stride 2\ntanh", "net"),
        "img": (9.6, 1, "image\n1 x 28 x 28", "data")},
        [("z", "n1", ""), ("n1", "a1", ""), ("a1", "n2", ""), ("n2", "a2", ""), ("a2", "n3", ""),
         ("n3", "img", "")]),
    "cGAN": ("cGAN: both players are told the label y", {
        "z": (0, 1.6, "noise z", "data"), "y": (0, 0.4, "label y", "data"),
        "G": (2, 1, "G(z, y)", "net"), "x": (4, 1, "image", "data"),
        "real": (4, 2.2, "real (x, y)", "data"), "y2": (4, -0.2, "label y", "data"),
        "D": (6, 1, "D(x, y)", "net"), "out": (8, 1, "real / fake\nfor this y", "loss")},
        [("z", "G", ""), ("y", "G", ""), ("G", "x", ""), ("x", "D", ""), ("real", "D", ""),
         ("y2", "D", ""), ("D", "out", "")]),
    "SGAN": ("Semi-supervised GAN: D is a (K+1)-way classifier", {
        "z": (0, 1, "noise z", "data"), "G": (2, 1, "G(z)", "net"), "x": (4, 1, "image", "data"),
        "lab": (4, 2.2, "few labelled\nreal (x, y)", "data"),
        "unl": (4, -0.2, "many unlabelled\nreal x", "data"),
        "D": (6, 1, "D: K + 1\nclasses", "net"), "out": (8, 1, "digit 0 ... 9\nor 'fake'", "loss")},
        [("z", "G", ""), ("G", "x", ""), ("x", "D", ""), ("lab", "D", ""), ("unl", "D", ""),
         ("D", "out", "")]),
    "AC-GAN": ("AC-GAN: G is told y, D also says which class it sees", {
        "z": (0, 1.6, "noise z", "data"), "y": (0, 0.4, "label y", "data"),
        "G": (2, 1, "G(z, y)", "net"), "x": (4, 1, "image", "data"),
        "real": (4, 2.2, "real (x, y)", "data"),
        "D": (6, 1.6, "D: real / fake", "net"), "C": (6, 0.4, "class head:\nwhich digit?", "net"),
        "out": (8, 0.4, "CE with y,\nreal and fake", "loss")},
        [("z", "G", ""), ("y", "G", ""), ("G", "x", ""), ("x", "D", ""), ("real", "D", ""),
         ("x", "C", ""), ("C", "out", "")]),
    "InfoGAN": ("InfoGAN: an unsupervised code c that D's extra head Q must recover", {
        "z": (0, 1.6, "noise z", "data"), "c": (0, 0.4, "code c\n(10-way + 2 continuous)", "data"),
        "G": (2, 1, "G(z, c)", "net"), "x": (4, 1, "image", "data"),
        "D": (6, 1.6, "D: real / fake", "net"), "Q": (6, 0.4, "Q(c | x):\nshares D's body", "net"),
        "mi": (8, 0.4, "maximise\nI(c; G(z, c))", "loss"), "real": (4, 2.4, "real images", "data")},
        [("z", "G", ""), ("c", "G", ""), ("G", "x", ""), ("x", "D", ""), ("real", "D", ""),
         ("x", "Q", ""), ("Q", "mi", "")]),
    "CycleGAN": ("CycleGAN: two unpaired domains, translated there and back", {
        "a": (0, 1, "image a in A\n(horse)", "data"), "G": (2, 1.8, "G: A -> B", "net"),
        "b": (4, 1.8, "G(a) in B\n(zebra)", "data"), "DB": (6, 1.8, "D_B: a real B?", "net"),
        "F": (4, 0.2, "F: B -> A", "net"), "back": (2, 0.2, "F(G(a))", "data"),
        "cyc": (0, -0.6, "cycle loss\n||F(G(a)) - a||_1", "loss")},
        [("a", "G", ""), ("G", "b", ""), ("b", "DB", "adversarial"), ("b", "F", ""), ("F", "back", ""),
         ("back", "cyc", ""), ("a", "cyc", "")]),
    "StarGAN": ("StarGAN: one generator for many domains, told the target domain", {
        "x": (0, 1.6, "image x", "data"), "c": (0, 0.4, "target domain c\n(e.g. 'smiling')", "data"),
        "G": (2, 1, "G(x, c)", "net"), "y": (4, 1, "translated\nimage", "data"),
        "D": (6, 1.6, "D: real / fake", "net"), "Dcls": (6, 0.4, "D_cls: which domain?\n(as AC-GAN)", "net"),
        "back": (4, 2.4, "G(G(x, c), c_x)\nreconstructs x", "loss")},
        [("x", "G", ""), ("c", "G", ""), ("G", "y", ""), ("y", "D", ""), ("y", "Dcls", ""),
         ("y", "back", "")]),
    "StyleGAN": ("StyleGAN: z -> w, injected as styles at every resolution", {
        "z": (0, 1.0, "noise z", "data"), "map": (1.5, -0.2, "mapping network\n8 dense layers", "net"),
        "w": (4, -0.2, "style code w", "data"), "c": (4, 2.2, "constant 4x4", "data"),
        "coarse": (4, 1.0, "4²-8² layers:\npose, shape", "net"), "mid": (6, 1.0, "16²-32² layers:\nfeatures", "net"),
        "fine": (8, 1.0, "64²-1024² layers:\ncolour, texture", "net"), "img": (8, 2.2, "image", "data")},
        [("z", "map", ""), ("map", "w", ""), ("w", "coarse", ""), ("c", "coarse", ""),
         ("coarse", "mid", ""), ("mid", "fine", ""), ("fine", "img", ""), ("w", "mid", "AdaIN"), ("w", "fine", "")]),
}
_NODE_COLOURS = {"data": "#eef3fb", "net": "#ffe9a8", "loss": "#f8d0d0"}


def draw_architecture(name: str, ax=None):
    """Draw one of :data:`ARCHITECTURES` as boxes (yellow: networks, blue: data, red: losses) and arrows.

    Solid arrows are the forward computation, dashed red ones gradients flowing back.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"no diagram for {name!r}; choose from {sorted(ARCHITECTURES)}")
    title, nodes, edges = ARCHITECTURES[name]
    fig, ax = figure_axes(ax, (9, 3))
    xs, ys = [n[0] for n in nodes.values()], [n[1] for n in nodes.values()]
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    margin = 1.1 if any(len(edge) > 3 for edge in edges) else 0.6  # room for the gradients' arcs
    ax.set_ylim(min(ys) - margin, max(ys) + margin)
    boxes = {key: ax.text(x, y, label, ha="center", va="center", fontsize=8.5, zorder=3,
                          bbox={"boxstyle": "round,pad=0.4", "fc": _NODE_COLOURS[kind], "ec": "0.35"})
             for key, (x, y, label, kind) in nodes.items()}
    for start, end, label, *kind in edges:
        grad = kind[:1] == ["grad"]
        bend = kind[1] if len(kind) > 1 else -0.35  # gradients arc away from the forward arrows
        colour = "#c0392b" if grad else "0.3"
        style = {"arrowstyle": "-|>", "color": colour, "shrinkA": 2, "shrinkB": 2,
                 "patchA": boxes[start].get_bbox_patch(), "patchB": boxes[end].get_bbox_patch()}
        if grad:
            style.update(linestyle="--", connectionstyle=f"arc3,rad={bend}")
        (x0, y0, *_), (x1, y1, *_) = nodes[start], nodes[end]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=4, arrowprops=style)
        if not label:
            continue
        if grad:  # the label sits at the arc's apex, computed where arc3 bends: in display space
            (a, b), (c, d) = ax.transData.transform([(x0, y0), (x1, y1)])
            apex = ((a + c) / 2 + bend / 2 * (d - b), (b + d) / 2 - bend / 2 * (c - a))
            lx, ly = ax.transData.inverted().transform(apex)
            ax.text(lx, ly, label, ha="center", va="center", fontsize=7.5, color=colour, zorder=5,
                    backgroundcolor="white")
        else:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, ha="center", fontsize=7.5, color=colour)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return fig
