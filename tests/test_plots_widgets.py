import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ganlab import plots
from ganlab.train import History
from ganlab.widgets import CallbackErrors, LatentExplorer


def test_image_grid_maps_range_and_tiles():
    images = torch.stack([torch.full((1, 4, 4), v) for v in (-1.0, 0.0, 1.0, 3.0)])
    grid = plots.image_grid(images, nrow=2, padding=0)
    assert grid.shape == (8, 8, 3)
    assert grid[0, 0, 0] == 0.0 and grid[0, 4, 0] == 0.5 and grid[4, 0, 0] == 1.0
    assert grid.max() == 1.0  # 3.0 is clamped
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        plots.image_grid(torch.zeros(4, 4))


def test_decode_grid_puts_largest_z2_on_top_row():
    images = plots.decode_grid(lambda z: z[:, :, None, None].expand(-1, 2, 1, 1), (-1, 1), (-2, 2), n=3)
    z = images[:, :, 0, 0]
    assert z[0].tolist() == [-1.0, 2.0]      # top-left
    assert z[2].tolist() == [1.0, 2.0]       # top-right
    assert z[8].tolist() == [1.0, -2.0]      # bottom-right


def test_figures_are_drawn():
    h = History([{"epoch": i // 3, "step": i, "loss": 1.0 / (i + 1)} for i in range(9)])
    for fig in (plots.plot_history(h), plots.show_images(torch.zeros(12, 1, 8, 8), nrow=6),
                plots.show_rows({"a": torch.zeros(5, 1, 8, 8), "b": torch.ones(5, 1, 8, 8)}),
                plots.scatter_codes(np.random.randn(30, 2), np.arange(30) % 3),
                plots.show_latent_grid(lambda z: torch.zeros(len(z), 1, 4, 4), (-1, 1), (-1, 1), n=4)):
        assert len(fig.axes) >= 1
        plt.close(fig)
    with pytest.raises(ValueError, match=r"codes of shape \(N, 2\)"):
        plots.scatter_codes(np.zeros((5, 3)), np.zeros(5))


def test_latent_explorer_decodes_the_slider_position():
    decode = lambda z: torch.tanh(z.sum(1))[:, None, None, None].expand(-1, 1, 2, 2)
    codes = np.random.default_rng(0).normal(size=(50, 2))
    view = LatentExplorer(decode, codes, np.arange(50) % 5)
    view.sliders[0].value = 0.3
    view.sliders[1].value = -0.1
    assert torch.allclose(view.image, decode(torch.tensor([[0.3, -0.1]]))[0])
    assert view.sliders[0].min < codes[:, 0].min() and view.sliders[0].max > codes[:, 0].max()
    with pytest.raises(ValueError, match=r"2-D codes of shape \(N, 2\)"):
        LatentExplorer(decode, np.zeros((5, 3)), np.zeros(5))
    plt.close("all")


def test_callback_errors_are_shown_escaped_and_cleared_by_the_next_success():
    errors = CallbackErrors()

    def square_root(x):
        if x < 0:
            raise ValueError(f"x must be >= 0, got <{x}>")
        return x ** 0.5

    guarded = errors.wrap(square_root)
    assert guarded(-1) is None  # caught: ipywidgets would send it to the hidden log
    assert isinstance(errors.last, ValueError)
    assert "<b>ValueError</b>: x must be &gt;= 0, got &lt;-1&gt;" in errors.widget.value
    assert guarded(4) == 2.0
    assert errors.last is None and errors.widget.value == ""


def test_latent_explorer_shows_a_decoder_error_in_the_view():
    def decode(z):
        if z[0, 0] > 1:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x2 and 3x4)")
        return torch.zeros(1, 1, 2, 2)

    codes = np.random.default_rng(0).normal(size=(50, 2))
    view = LatentExplorer(decode, codes, np.arange(50) % 5)
    assert view.errors.widget in view.widget.children and view.errors.widget.value == ""
    view.sliders[0].value = view.sliders[0].max
    assert "<b>RuntimeError</b>: mat1 and mat2 shapes cannot be multiplied" in view.errors.widget.value
    view.sliders[0].value = 0.0
    assert view.errors.widget.value == ""
    plt.close("all")


def test_taxonomy_draws_every_node_and_marks_course_models():
    fig = plots.draw_taxonomy()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == len(plots.TAXONOMY)
    assert any("VAE" in t and "[Unit 02]" in t for t in texts)
    assert any("GAN" in t and "[Units 03-07]" in t for t in texts)
    plt.close(fig)


@pytest.mark.parametrize("name", sorted(plots.ARCHITECTURES))
def test_architecture_diagrams_draw_every_box_and_arrow(name):
    title, nodes, edges = plots.ARCHITECTURES[name]
    assert all(start in nodes and end in nodes for start, end, *_ in edges)
    assert all(rest == [] or (rest[0] == "grad" and len(rest) <= 2) for _, _, _, *rest in edges)
    fig = plots.draw_architecture(name)
    ax = fig.axes[0]
    boxes = [t.get_text() for t in ax.texts if t.get_bbox_patch() is not None and t.get_zorder() == 3]
    assert sorted(boxes) == sorted(label for _, _, label, _ in nodes.values())
    assert len([c for c in ax.get_children() if type(c).__name__ == "Annotation"]) == len(edges)
    assert ax.get_title() == title
    plt.close(fig)


def test_unknown_architecture_diagram_lists_the_known_ones():
    with pytest.raises(ValueError, match="StyleGAN"):
        plots.draw_architecture("BigGAN")


def test_code_grid_reads_like_the_plotted_plane():
    grid = plots.code_grid(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([-1.0, 1.0]))
    assert grid.tolist() == [[0, 1], [1, 1], [2, 1], [0, -1], [1, -1], [2, -1]]


def test_show_quality_draws_the_samples_and_marks_unfair_class_shares():
    import matplotlib.colors as mcolors

    from ganlab.plots import show_quality

    shares = [0.5, 0.3, 0.02, 0.1, 0.08, 0.0, 0.0, 0.0, 0.0, 0.0]
    fig = show_quality("collapsed", torch.zeros(12, 1, 28, 28) - 1,
                       {"confidence": 0.9, "class_shares": shares, "fid": 123.4, "inception_score": 1.2})
    grid_ax, bar_ax = fig.axes
    assert "confidence 0.900" in grid_ax.get_title() and "FID 123.4" in grid_ax.get_title()
    bars = bar_ax.patches
    assert [round(b.get_height(), 6) for b in bars] == [round(100 * s, 6) for s in shares]
    red = mcolors.to_rgba("C3")
    assert [b.get_facecolor() == red for b in bars] == [not 0.05 <= s <= 0.16 for s in shares]
    plt.close(fig)
