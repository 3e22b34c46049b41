"""Latent-space tools: interpolation, vector arithmetic, attribute directions, walks, the walk widget."""

import matplotlib.pyplot as plt
import pytest
import torch

from ganlab import latent, plots
from ganlab.widgets import LatentWalk


def test_arithmetic_averages_each_group_before_adding():
    a, b, c = torch.randn(3, 5), torch.randn(4, 5), torch.randn(2, 5)
    result = latent.arithmetic(plus=[a, c], minus=[b])
    assert torch.allclose(result, a.mean(0) - b.mean(0) + c.mean(0))
    assert torch.allclose(latent.arithmetic([a]), a.mean(0))


def test_arithmetic_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least one group"):
        latent.arithmetic([], [torch.randn(2, 3)])
    with pytest.raises(ValueError, match="one latent_dim"):
        latent.arithmetic([torch.randn(2, 3)], [torch.randn(2, 4)])
    with pytest.raises(ValueError, match=r"\(N, latent_dim\)"):
        latent.arithmetic([torch.randn(3)])


def test_attribute_vector_recovers_a_planted_direction():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 16, generator=gen)
    direction = torch.zeros(16)
    direction[3] = 1.0
    scores = z @ direction + 0.1 * torch.randn(4000, generator=gen)  # a property that grows along e_3
    v = latent.attribute_vector(z, scores, fraction=0.1)
    cosine = torch.dot(v, direction) / v.norm()
    assert cosine > 0.95
    # top-10% minus bottom-10% of a standard normal along e_3: 2 * E[Z | Z > 1.2816] ~ 2 * 1.755
    assert v[3] == pytest.approx(3.51, abs=0.15)
    with pytest.raises(ValueError, match="one score per code"):
        latent.attribute_vector(z, scores[:10])
    with pytest.raises(ValueError, match="fraction"):
        latent.attribute_vector(z, scores, fraction=0.7)


def test_walk_moves_along_the_direction():
    z, d = torch.randn(6), torch.randn(6)
    path = latent.walk(z, d, [-1.0, 0.0, 2.0])
    assert path.shape == (3, 6)
    assert torch.allclose(path[1], z) and torch.allclose(path[2], z + 2 * d)
    with pytest.raises(ValueError, match="one shape"):
        latent.walk(z, torch.randn(5), [1.0])


def test_slerp_keeps_gaussian_norms_typical_where_lerp_shrinks_them():
    gen = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(2, 256, generator=gen)
    mid_lerp, mid_slerp = latent.lerp(z0, z1, 3)[1], latent.slerp(z0, z1, 3)[1]
    assert mid_lerp.norm() == pytest.approx((128) ** 0.5, rel=0.1)   # ~ sqrt(d / 2)
    assert mid_slerp.norm() == pytest.approx(256 ** 0.5, rel=0.1)   # ~ sqrt(d)


class Linear2Image(torch.nn.Module):
    """A tiny 'generator': z (N, 4) -> images (N, 1, 2, 2) = tanh of a linear map."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.map = torch.nn.Linear(4, 4)

    def forward(self, z):
        return torch.tanh(self.map(z)).view(-1, 1, 2, 2)


def test_latent_walk_widget_runs_headless_and_restores_modes():
    torch.manual_seed(0)
    G = Linear2Image().train()
    z = torch.randn(3, 4)
    d = torch.tensor([1.0, 0, 0, 0])
    view = LatentWalk(G, z, {"first": d, "second": torch.tensor([0, 1.0, 0, 0])}, span=2.0)
    assert view.images.shape == (3, 1, 2, 2)
    with torch.no_grad():
        assert torch.allclose(view.images, G(z))
    view.sliders["first"].value = 1.5
    with torch.no_grad():
        assert torch.allclose(view.images, G(z + 1.5 * d))
    assert torch.allclose(view.codes, z + 1.5 * d)
    view.reset()
    assert view.sliders["first"].value == 0.0 and torch.allclose(view.codes, z)
    assert G.training, "the widget evaluates in eval mode and restores the mode"
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        LatentWalk(G, z, {"bad": torch.ones(5)})
    with pytest.raises(ValueError, match="at least one direction"):
        LatentWalk(G, z, {})
    plt.close("all")


def test_snapshot_figures_and_animation():
    snaps = [torch.full((8, 1, 4, 4), v) for v in (-1.0, 0.0, 1.0)]
    fig = plots.show_snapshots(snaps, n=4)
    assert [ax.get_ylabel() for ax in fig.axes] == ["epoch 1", "epoch 2", "epoch 3"]
    animation = plots.animate_snapshots(snaps, nrow=4)
    html = plots.animation_html(animation)
    assert html.count("data:image/png;base64") == 3          # one frame per epoch
    with pytest.raises(ValueError, match="epochs must be in 1..3"):
        plots.show_snapshots(snaps, epochs=[4])
    with pytest.raises(ValueError, match="no snapshots"):
        plots.animate_snapshots([])
    plt.close("all")


def test_animation_html_is_self_contained_and_labels_its_buttons():
    """matplotlib's player loads font-awesome from a CDN, so offline its buttons are blank."""
    import re

    snaps = [torch.full((4, 1, 4, 4), v) for v in (-1.0, 1.0)]
    html = plots.animation_html(plots.animate_snapshots(snaps, nrow=2))
    tags = re.findall(r"<(?:link|script|img)\b[^>]*>", html)
    assert tags and not [t for t in tags if re.search(r"\b(?:src|href)\s*=\s*[\"']?https?://", t)]
    assert "https://" not in html and "http://" not in html
    assert html.count("data:image/png;base64") == 2           # the frames, embedded
    assert 'class="fa' not in html                             # no icon font needed
    buttons = re.findall(r'<button title="([^"]+)"[^>]*>\s*([^<]+?)\s*</button>', html)
    assert dict(buttons) == {"Decrease speed": "−", "First frame": "|◀◀",
                             "Previous frame": "|◀", "Play backwards": "◀",
                             "Pause": "❚❚", "Play": "▶", "Next frame": "▶|",
                             "Last frame": "▶▶|", "Increase speed": "+"}
    plt.close("all")


def test_real_or_fake_records_answers_and_scores_them():
    from ganlab.widgets import RealOrFake

    real, fake = torch.ones(5, 1, 4, 4), -torch.ones(7, 1, 4, 4)
    quiz = RealOrFake(real, fake, exposure=0.1, seed=0)
    with pytest.raises(ValueError, match="no image on screen: press 'show next image'"):
        quiz.answer("real")
    truths = []
    for _ in range(40):  # a perfect observer: bright images are the real ones
        image = quiz.next_trial()
        truths.append(quiz.current["truth"])
        assert quiz.answer("real" if image.mean() > 0 else "fake")
    assert quiz.summary() == {"trials": 40, "accuracy": 1.0, "fooled": 0.0}
    assert 10 < truths.count("real") < 30, "a fair coin decides real or fake"
    quiz.next_trial()
    with pytest.raises(ValueError, match="'real' or 'fake'"):
        quiz.answer("maybe")
    with pytest.raises(ValueError, match="differ in shape"):
        RealOrFake(real, torch.zeros(2, 1, 5, 5))


def test_real_or_fake_buttons_wait_for_an_image_and_the_status_never_says_nan():
    from ganlab.widgets import RealOrFake

    quiz = RealOrFake(torch.ones(5, 1, 4, 4), -torch.ones(7, 1, 4, 4), exposure=0.05, seed=0)
    real_button, fake_button = quiz.buttons
    assert real_button.disabled and fake_button.disabled  # nothing to answer yet
    assert quiz.status.value == "no answers yet: press 'show next image' to see the first image"
    real_button.click()  # e.g. a click that raced the button being disabled
    assert quiz.records == []
    assert ("<b>ValueError</b>: no image on screen: press &#x27;show next image&#x27; to see an "
            "image first" in quiz.errors.widget.value)
    quiz.start.click()
    assert not real_button.disabled and quiz.errors.widget.value == ""
    while quiz.current["truth"] != "real":
        quiz.next_trial()
    real_button.click()
    assert real_button.disabled and len(quiz.records) == 1
    assert quiz.status.value == "1 answered: accuracy 100%, no fakes answered yet"
    quiz.next_trial()
    while quiz.current["truth"] != "fake":
        quiz.next_trial()
    real_button.click()  # a fake taken for real
    assert quiz.status.value == "2 answered: accuracy 50%, fakes taken for real 100%"
    assert "nan" not in quiz.status.value


def test_latent_walk_shows_a_generator_error_in_the_view():
    def G(z):
        if z[:, 0].max() > 1:
            raise ValueError("the generator saw codes outside its training range")
        return torch.tanh(z[:, :4]).view(-1, 1, 2, 2)

    view = LatentWalk(G, torch.zeros(3, 4), {"first": torch.tensor([1.0, 0, 0, 0])}, span=2.0)
    view.sliders["first"].value = 1.5
    assert ("<b>ValueError</b>: the generator saw codes outside its training range"
            in view.errors.widget.value)
    view.reset_button.click()
    assert view.errors.widget.value == "" and view.sliders["first"].value == 0.0
    assert torch.equal(view.images, G(torch.zeros(3, 4)))
    plt.close("all")
