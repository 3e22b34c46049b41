"""The GAN views of ganlab.widgets: Figure 1 of Goodfellow et al. (2014) and a GAN-Lab-style 2-D view."""

import copy

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import FancyArrowPatch

from ganlab import theory, toy, widgets
from ganlab.figure1 import capture_stage, draw_figure1
from ganlab.losses import GENERATOR_LOSSES, generator_loss
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.widgets import Figure1View, GANLab2D

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def tiny_1d_gan(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(1, (8,), (1,), None), MLPDiscriminator((1,), (8,))


def affine_generator(a: float, b: float) -> MLPGenerator:
    """An MLPGenerator computing exactly ``G(z) = a z + b`` for ``z > -10``.

    Hidden unit 0 is ``relu(z + 10) = z + 10``, the others are switched off, and the
    output layer maps it to ``a (z + 10) + b - 10 a``.
    """
    G, _ = tiny_1d_gan()
    first, last = G.net[0], G.net[2]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, 0], first.bias[0] = 1.0, 10.0
        last.weight.zero_()
        last.weight[0, 0], last.bias[0] = a, b - 10 * a
    return G


def stage_of(G, D, x, p_data, **kw):
    return capture_stage(G, D, x, p_data, generator=torch.Generator().manual_seed(0), **kw)


# --- Figure 1 ----------------------------------------------------------------------------


def test_capture_stage_shapes_values_and_rng():
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-20, 20, 2001)
    p_data = toy.Gaussian1D(1.0, 0.5).pdf(x)
    rng_before = torch.get_rng_state()
    stage = stage_of(G, D, x, p_data, n_samples=4000, n_arrows=11)
    assert torch.equal(torch.get_rng_state(), rng_before), "capture_stage touched the global RNG"

    for key in ("x", "p_data", "p_g", "D", "D_star"):
        assert stage[key].shape == x.shape, key
    assert stage["z_arrows"].shape == stage["x_arrows"].shape == (11,)
    assert np.trapezoid(stage["p_g"], x) == pytest.approx(1.0, abs=1e-3)
    assert (stage["p_g"] >= 0).all()

    with torch.no_grad():
        d = torch.sigmoid(D(torch.tensor(x, dtype=torch.float32)[:, None])).double().numpy()
        x_arrows = G(torch.tensor(stage["z_arrows"], dtype=torch.float32)[:, None]).double().numpy()
    assert ((stage["D"] >= 0) & (stage["D"] <= 1)).all()
    np.testing.assert_allclose(stage["D"], d, rtol=1e-6)
    np.testing.assert_allclose(stage["x_arrows"], x_arrows[:, 0], rtol=1e-6)
    np.testing.assert_allclose(stage["D_star"], theory.optimal_discriminator(p_data, stage["p_g"]))
    # uniform p_z: arrows evenly spaced over the whole support [-1, 1]
    np.testing.assert_allclose(stage["z_arrows"], np.linspace(-1, 1, 11), atol=1e-7)
    # the same generator seed gives the same snapshot
    np.testing.assert_array_equal(stage_of(G, D, x, p_data, n_samples=4000, n_arrows=11)["p_g"],
                                  stage["p_g"])


def test_capture_stage_normal_noise_arrows_are_quantiles():
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-5, 5, 200)
    stage = stage_of(G, D, x, toy.Gaussian1D(0, 1).pdf(x), noise="normal", n_samples=500, n_arrows=10)
    mass = torch.special.ndtr(torch.tensor(stage["z_arrows"])).numpy()
    np.testing.assert_allclose(mass, (np.arange(10) + 0.5) / 10, atol=1e-6)


@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_capture_stage_affine_generator_matches_the_analytic_density(noise):
    a, b = 0.8, 1.5
    G, (_, D) = affine_generator(a, b), tiny_1d_gan()
    x = toy.grid_1d(-3, 6, 901)
    stage = stage_of(G, D, x, toy.Gaussian1D(0, 1).pdf(x), noise=noise)
    np.testing.assert_allclose(stage["x_arrows"], a * stage["z_arrows"] + b, rtol=1e-5)
    if noise == "normal":  # G(z) ~ N(b, a^2)
        expected = toy.Gaussian1D(b, a).pdf(x)
        assert np.abs(stage["p_g"] - expected).max() < 0.05 * expected.max()
    else:  # G(z) ~ U(b - a, b + a): density 1 / 2a inside, away from the smoothed edges
        inside = np.abs(x - b) < 0.7 * a
        outside = np.abs(x - b) > 1.3 * a
        np.testing.assert_allclose(stage["p_g"][inside], 1 / (2 * a), rtol=0.1)
        assert stage["p_g"][outside].max() < 0.02


def test_capture_stage_rejects_bad_input():
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-3, 3, 50)
    p = toy.Gaussian1D(0, 1).pdf(x)
    with pytest.raises(ValueError, match="strictly increasing"):
        capture_stage(G, D, x[::-1], p)
    with pytest.raises(ValueError, match=r"p_data .* shape \(50,\)"):
        capture_stage(G, D, x, p[:-1])
    with pytest.raises(ValueError, match="unknown noise kind"):
        capture_stage(G, D, x, p, noise="cauchy")
    with pytest.raises(ValueError, match=r"z of shape \(N, 1\)"):
        capture_stage(MLPGenerator(2, (8,), (1,), None), D, x, p)


def test_draw_figure1_draws_the_papers_picture():
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-4, 4, 300)
    stage = stage_of(G, D, x, toy.Gaussian1D(1, 0.5).pdf(x), n_samples=2000, n_arrows=9)
    fig = draw_figure1(stage, title="(a)")
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    p_data, p_g, d = lines[r"$p_\mathrm{data}$"], lines[r"$p_g$"], lines[r"$D(x)$"]
    assert p_data.get_marker() == "." and p_data.get_linestyle() == "None" and p_data.get_color() == "k"
    assert p_g.get_linestyle() == "-" and p_g.get_color() == "tab:green"
    assert d.get_linestyle() == "--" and d.get_color() == "tab:blue"
    np.testing.assert_allclose(d.get_ydata(), stage["D"])
    # both densities divided by one common factor: the taller one peaks at 1
    scale = max(stage["p_data"].max(), stage["p_g"].max())
    np.testing.assert_allclose(p_g.get_ydata(), stage["p_g"] / scale)
    assert max(p_g.get_ydata().max(), p_data.get_ydata().max()) == pytest.approx(1.0, abs=0.02)
    # one arrow per z, from the z line (below 0) to G(z) on the x line (at 0)
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 9
    assert ax.get_title() == "(a)"
    with pytest.raises(ValueError, match="missing"):
        draw_figure1({"x": x})


def test_figure1_view_slider_selects_and_redraws(monkeypatch):
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-4, 4, 100)
    stages = [stage_of(G, D, x, toy.Gaussian1D(m, 0.5).pdf(x), n_samples=200) for m in (0, 1, 2)]
    drawn = []
    real_draw = widgets.draw_figure1
    monkeypatch.setattr(widgets, "draw_figure1",
                        lambda stage, ax=None, title=None: drawn.append((stage, title)) or real_draw(stage, ax, title))
    view = Figure1View(stages, labels=["a", "b", "c"])
    assert view.current == 0 and view.slider.max == 2 and drawn[-1] == (stages[0], "a")
    view.slider.value = 2
    assert view.current == 2 and drawn[-1] == (stages[2], "c")
    assert view.widget.children == (view.slider, view.errors.widget, view.output)
    with pytest.raises(ValueError, match="at least one stage"):
        Figure1View([])
    with pytest.raises(ValueError, match="one label per stage"):
        Figure1View(stages, labels=["a"])


def test_figure1_view_shows_a_drawing_error_in_the_view(monkeypatch):
    G, D = tiny_1d_gan()
    x = toy.grid_1d(-4, 4, 100)
    stages = [stage_of(G, D, x, toy.Gaussian1D(m, 0.5).pdf(x), n_samples=200) for m in (0, 1)]
    view = Figure1View(stages)
    real_draw = widgets.draw_figure1

    def draw(stage, ax=None, title=None):
        if stage is stages[1]:
            raise ValueError("a stage must be a dict from capture_stage(...)")
        return real_draw(stage, ax, title)

    monkeypatch.setattr(widgets, "draw_figure1", draw)
    view.slider.value = 1
    assert "<b>ValueError</b>: a stage must be a dict from capture_stage" in view.errors.widget.value
    view.slider.value = 0
    assert view.errors.widget.value == "" and view.errors.last is None
    plt.close("all")


# --- GAN Lab 2-D ---------------------------------------------------------------------------


def make_lab(seed=0, **kw):
    torch.manual_seed(seed)
    G, D = MLPGenerator(2, (16,), (2,), None), MLPDiscriminator((2,), (16,))
    kw = {"m": 32, "n_show": 64, "grid_size": 20, **kw}
    return GANLab2D(G, D, toy.ring().sample, **kw)


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_ganlab2d_buttons_step_the_right_player_without_touching_global_rng():
    lab = make_lab()
    rng_before = torch.get_rng_state()
    g0, d0 = params(lab.G), params(lab.D)
    lab.d_button.click()
    assert (lab.d_steps, lab.g_steps) == (1, 0) and "d_loss" in lab.history[-1]
    g1, d1 = params(lab.G), params(lab.D)
    assert same(g0, g1) and not same(d0, d1)

    lab.g_button.click()
    assert (lab.d_steps, lab.g_steps) == (1, 1) and "g_loss" in lab.history[-1]
    g2, d2 = params(lab.G), params(lab.D)
    assert same(d1, d2) and not same(g1, g2)

    lab.n_steps.value = 5
    lab.train_button.click()
    assert (lab.d_steps, lab.g_steps) == (6, 6) and len(lab.history) == 12
    assert torch.equal(torch.get_rng_state(), rng_before), "the widget touched the global RNG"


def test_ganlab2d_is_reproducible_from_its_seed():
    a, b = make_lab(seed=3), make_lab(seed=3)
    a.train(3)
    b.train(3)
    assert same(params(a.G), params(b.G)) and same(params(a.D), params(b.D))
    assert torch.equal(a.x_show, b.x_show) and torch.equal(a.z_show, b.z_show)
    assert a.history == b.history


@pytest.mark.parametrize("kind", GENERATOR_LOSSES)
def test_generator_gradients_are_minus_the_per_sample_gradient(kind):
    lab = make_lab(loss=kind)
    lab.train(2)
    lab.opt_g.zero_grad(set_to_none=True)
    lab.opt_d.zero_grad(set_to_none=True)
    push = lab.generator_gradients()
    assert push.shape == (64, 2) and torch.isfinite(push).all()
    i = 5
    x_i = lab.G(lab.z_show[i:i + 1]).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(generator_loss(lab.D(x_i), kind), x_i)
    torch.testing.assert_close(push[i], -grad[0], rtol=1e-5, atol=1e-7)
    # drawing the arrows leaves the models' .grad alone (they belong to the next step)
    assert all(p.grad is None for p in [*lab.G.parameters(), *lab.D.parameters()])


def test_ganlab2d_render_draws_heatmap_points_and_arrows():
    lab = make_lab(lim=3.0)
    lab.d_step()
    lab.render()
    fig = lab.plot()
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the plane and the colour bar
    heat = ax.images[0].get_array()
    assert heat.shape == (20, 20) and 0 <= heat.min() and heat.max() <= 1
    assert ax.get_xlim() == (-3.0, 3.0)
    assert len(ax.collections) >= 3  # real points, fake points, arrows
    assert "D steps 1" in ax.get_title() and "d_loss" in ax.get_title()
    assert lab.widget.children[1:] == (lab.errors.widget, lab.output)


def test_ganlab2d_rejects_bad_input():
    G, D = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (8,))
    with pytest.raises(ValueError, match=r"sample_real\(n, generator\) .* shape \(n, 2\) = \(64, 2\), got \(64, 3\)"):
        GANLab2D(G, D, lambda n, generator: torch.zeros(n, 3), n_show=64)
    with pytest.raises(ValueError, match="unknown generator loss"):
        GANLab2D(G, D, toy.ring().sample, loss="wasserstein")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        GANLab2D(MLPGenerator(2, (8,), (3,), None), D, toy.ring().sample, n_show=16)
    with pytest.raises(ValueError, match="lim"):
        GANLab2D(G, D, toy.ring().sample, n_show=16, lim=-1.0)
    lab = GANLab2D(copy.deepcopy(G), copy.deepcopy(D), toy.ring().sample, n_show=16, grid_size=5)
    with pytest.raises(ValueError, match="number of steps"):
        lab.train(-1)


def test_ganlab2d_shows_a_button_error_in_the_view():
    lab = make_lab()
    lab.n_steps.value = -1
    lab.train_button.click()
    assert (lab.d_steps, lab.g_steps) == (0, 0)
    assert ("<b>ValueError</b>: the number of steps must be an integer &gt;= 0, got -1"
            in lab.errors.widget.value)
    lab.d_button.click()
    assert lab.d_steps == 1 and lab.errors.widget.value == ""
    plt.close("all")
