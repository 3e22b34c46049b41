"""Checks of Unit 06 (evaluation metrics).

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.checks.common import _close, _fmt, _images, _name, _number, _shape, call, fail
from ganlab.checks.unit04 import _call_numpy, _check_number
from ganlab.grading import evidence

# --- Unit 06: evaluation metrics ---------------------------------------------------------------


def _covariance(rng: np.random.Generator, d: int, n: int | None = None) -> np.ndarray:
    """A random covariance matrix ``(d, d)``: well conditioned, or of rank ``n - 1 < d`` when
    estimated from ``n`` samples (as FID's covariances are when ``N <= d``)."""
    if n is None:
        a = rng.normal(size=(d, d))
        return a @ a.T / d + 0.2 * np.eye(d)
    return np.cov(rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d), rowvar=False)


def _singular_pair(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two covariances of rank 3 (4 samples in ``d`` dimensions) whose product trips up the
    naive square roots: the first of 50 draws where ``scipy.linalg.sqrtm`` is complex and
    ``np.linalg.eigvals`` has a negative eigenvalue (else the last draw)."""
    import warnings

    import scipy.linalg

    for _ in range(50):
        t1, t2 = _covariance(rng, d, n=4), _covariance(rng, d, n=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Matrix is singular": that is the point
            root = scipy.linalg.sqrtm(t1 @ t2)
        if np.iscomplexobj(root) and np.linalg.eigvals(t1 @ t2).real.min() < 0:
            break
    return t1, t2


def _is_complex(value) -> bool:
    return (isinstance(value, (complex, np.complexfloating))
            or (isinstance(value, np.ndarray) and np.iscomplexobj(value))
            or (isinstance(value, torch.Tensor) and value.is_complex()))


def _fid_value(fn: Callable, name: str, mu1, sigma1, mu2, sigma2) -> float:
    __tracebackhide__ = True
    out = _call_numpy(f"{name}(mu1, sigma1, mu2, sigma2)", fn, mu1, sigma1, mu2, sigma2, name=name)
    if _is_complex(out):
        fail("take the real part of the matrix square root: scipy.linalg.sqrtm(sigma1 @ sigma2) "
             "can come back complex, with tiny imaginary parts from rounding; drop them "
             "(covmean.real) before the trace", f"{name} returned {out!r}")
    if isinstance(out, (np.ndarray, torch.Tensor)) and np.size(out) != 1:
        fail(f"{name} must return one number, got an array of shape {tuple(np.shape(out))}: "
             "add up the mean term and the trace term")
    value = _number(out, name)
    if math.isnan(value):
        fail(f"{name} returned nan: take the matrix square root with scipy.linalg.sqrtm (np.sqrt "
             "works entry by entry), and in the eigenvalue route clip tiny negative eigenvalues "
             "at 0 before their square roots")
    if not math.isfinite(value):
        fail(f"{name} returned {value}: the distance between two Gaussians is finite")
    return value


@evidence.graded
def check_frechet_distance(fn: Callable[..., float], *, seed: int = 0) -> None:
    """Check ``fn(mu1, sigma1, mu2, sigma2)``: the Fréchet distance between two Gaussians,

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}),

    one real number, on NumPy float64 inputs (means ``(d,)``, covariances ``(d, d)``),
    which it must not modify. Compared with :func:`ganlab.metrics.frechet_distance` on
    random Gaussians (the usual mistakes recognised by their values), then on the closed
    forms (equal covariances: ``||mu1 - mu2||^2``; equal Gaussians: 0) and on singular
    covariances, where ``scipy.linalg.sqrtm`` returns a complex matrix.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "frechet_distance")
    rng = np.random.default_rng(seed)
    d = 6
    mu1 = rng.normal(size=d)
    mu2 = mu1 + rng.normal(size=d)
    s1, s2 = _covariance(rng, d), 1.5 * _covariance(rng, d)
    value = _fid_value(fn, name, mu1, s1, mu2, s2)
    expected = metrics.frechet_distance(mu1, s1, mu2, s2)

    def root(s):  # the symmetric square root of a covariance
        lam, u = np.linalg.eigh(s)
        return (u * np.sqrt(lam)) @ u.T

    diff = mu1 - mu2
    traces = np.trace(s1) + np.trace(s2)
    covmean = expected - diff @ diff - traces  # = -2 Tr (s1 s2)^{1/2}
    with np.errstate(invalid="ignore"):
        mistakes = [
            (diff @ diff + traces - covmean, "subtract twice the trace of the square root: "
             "Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}) (you added it)"),
            (math.sqrt(diff @ diff) + traces + covmean, "the mean term is the squared norm "
             "||mu1 - mu2||^2 (the sum of the squared differences), not the norm"),
            (traces + covmean, "add the mean term ||mu1 - mu2||^2: two Gaussians with different "
             "means are far apart even with equal covariances"),
            (np.mean(diff**2) + traces + covmean, "sum the squared differences of the means, do "
             "not average them: ||mu1 - mu2||^2"),
            (diff @ diff + traces + covmean / 2, "the trace term has a factor 2: subtract "
             "2 Tr((sigma1 sigma2)^{1/2})"),
            (diff @ diff + traces - 2 * np.trace(root(s1) @ root(s2)), "take the square root of "
             "the product, (sigma1 sigma2)^{1/2}, not the product of the square roots "
             "sigma1^{1/2} sigma2^{1/2} (they differ unless the matrices commute)"),
            (diff @ diff + traces - 2 * np.sum(np.sqrt(np.diag(s1 @ s2))), "use the matrix "
             "square root, scipy.linalg.sqrtm(sigma1 @ sigma2): np.sqrt takes the square root "
             "of each entry"),
            (math.sqrt(expected), "FID is the squared distance d^2: do not take the square root"),
        ]
    _check_number(name, value, expected, mistakes, "||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - "
                  "2 (sigma1 sigma2)^{1/2})")

    # closed forms: equal covariances leave the mean term only; equal Gaussians are at 0
    same = _fid_value(fn, name, mu1, s1, mu2, s1.copy())
    if not math.isclose(same, diff @ diff, rel_tol=1e-6, abs_tol=1e-8):
        fail(f"with equal covariances the trace term vanishes and FID = ||mu1 - mu2||^2 = "
             f"{diff @ diff:.8g}, but {name} returned {same:.8g}")
    zero = _fid_value(fn, name, mu1, s1, mu1.copy(), s1.copy())
    if abs(zero) > 1e-8 * np.trace(s1):
        fail(f"the distance of a Gaussian to itself must be 0, but {name} returned {zero:.3g}")

    # singular covariances, estimated from fewer samples than dimensions: a pair whose product
    # has eigenvalues that rounding makes slightly negative, so that scipy's sqrtm comes back
    # complex and unclipped square roots of eigenvalues are NaN
    t1, t2 = _singular_pair(rng, d)
    value = _fid_value(fn, name, mu1, t1, mu2, t2)
    expected = metrics.frechet_distance(mu1, t1, mu2, t2)
    if not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-8):
        fail(f"{name} is off on singular covariances (estimated from fewer samples than "
             "dimensions, as FID's are for small N): use scipy.linalg.sqrtm and keep the real "
             "part, or the eigenvalue route with tiny negative eigenvalues clipped at 0",
             f"returned {value:.8g}; expected {expected:.8g}")


def _inception_variant(logits: torch.Tensor, splits: int, *, probabilities: str = "softmax",
                       kl: str = "forward", marginal: str = "split", order: str = "consecutive",
                       exp: str = "after", classes: str = "sum", log=torch.log,
                       ddof: int = 0) -> tuple[float, float]:
    """The Inception Score computed right, or with one named mistake (for the hints)."""
    p = torch.sigmoid(logits) if probabilities == "sigmoid" else torch.softmax(logits, 1)
    n = len(p)
    parts = [p[j::splits] if order == "strided" else p[j * n // splits:(j + 1) * n // splits]
             for j in range(splits)]
    scores = []
    for part in parts:
        p_y = (p if marginal == "all" else part).mean(0, keepdim=True)
        terms = p_y * (log(p_y) - log(part)) if kl == "reverse" else part * (log(part) - log(p_y))
        per_x = terms.mean(1) if classes == "mean" else terms.sum(1)
        if exp == "none":
            scores.append(per_x.mean())
        elif exp == "inside":
            scores.append(per_x.exp().mean())
        else:
            scores.append(per_x.mean().exp())
    scores = torch.stack(scores)
    return scores.mean().item(), scores.std(correction=ddof).item() if splits > 1 else 0.0


def _score_pair(out, name: str) -> tuple[float, float]:
    __tracebackhide__ = True
    if isinstance(out, (torch.Tensor, np.ndarray)) and np.size(out) == 2:
        out = tuple(np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out)
                    .reshape(2))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        detail = f"got {type(out).__name__}"
        fail(f"{name} must return a pair (mean, std): the mean and the standard deviation of "
             "the scores of the splits", detail)
    values = (_number(out[0], f"{name}'s mean"), _number(out[1], f"{name}'s std"))
    if math.isnan(values[0]) or math.isnan(values[1]):
        fail(f"{name} returned nan: the inputs are logits, so turn them into probabilities "
             "first, p(y|x) = softmax(logits) (torch.softmax(logits, dim=1))")
    return values


@evidence.graded
def check_inception_score(fn: Callable[..., tuple[float, float]], *, seed: int = 0) -> None:
    """Check ``fn(logits, splits)``: the Inception Score from a classifier's **logits**.

    ``p(y|x) = softmax(logits)``; the ``N`` rows are cut, in order, into ``splits``
    consecutive parts; on each, ``IS = exp(mean_x KL(p(y|x) || p(y)))`` with the
    marginal ``p(y)`` of that part; returns ``(mean, std)`` over the parts, the std with
    ``ddof = 0``. Compared with :func:`ganlab.metrics.inception_score` (the usual mistakes
    recognised by their values) and with the closed forms: equal logits give ``(1, 0)``,
    confident predictions spread evenly over ``C`` classes give ``C``.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "inception_score")
    g = torch.Generator().manual_seed(seed)
    n, c, splits = 200, 10, 10
    # classes roughly sorted along the rows: consecutive parts each see a few classes only
    labels = (torch.arange(n) * c // n + torch.randint(0, 3, (n,), generator=g)) % c
    logits = 1.5 * torch.randn(n, c, generator=g, dtype=torch.float64)
    logits[torch.arange(n), labels] += 3.0
    before = logits.clone()
    out = call(f"{name}(logits, splits={splits})", fn, logits, splits, name=name)
    if not torch.equal(logits, before):
        fail(f"{name} must not modify the logits in place")
    mean, std = _score_pair(out, name)
    expected = metrics.inception_score(logits, splits)
    if not _close(mean, expected[0], rel=1e-6):
        mistakes = [
            ((expected[1], expected[0]), "return (mean, std) in this order: you swapped them"),
            (_inception_variant(logits, splits, exp="none"), "IS = exp(mean_x KL(p(y|x) || p(y))): "
             "take the exponential of the mean KL"),
            (_inception_variant(logits, splits, exp="inside"), "take the exponential of the mean "
             "KL, exp(mean_x KL), not the mean of the exponentials"),
            (_inception_variant(logits, splits, kl="reverse"), "the KL goes from p(y|x) to the "
             "marginal: KL(p(y|x) || p(y)) = sum_y p(y|x) log(p(y|x) / p(y)) (yours is reversed)"),
            (_inception_variant(logits, splits, marginal="all"), "compute the marginal p(y) in "
             "each split, from that split's samples only (not from all N)"),
            (_inception_variant(logits, splits, order="strided"), "cut the samples into splits "
             "consecutive parts, rows j N / splits to (j + 1) N / splits, in order: no striding "
             "(logits[j::splits]) or shuffling"),
            (_inception_variant(logits, splits, classes="mean"), "sum the KL over the classes y, "
             "do not average: KL = sum_y p(y|x) log(p(y|x) / p(y))"),
            (_inception_variant(logits, splits, probabilities="sigmoid"), "p(y|x) is the softmax "
             "of the logits over the classes (torch.softmax(logits, dim=1)), not a sigmoid per "
             "class"),
            (_inception_variant(logits, splits, log=torch.log2), "use the natural log: the KL is "
             "in nats and IS = exp(KL)"),
            (metrics.inception_score(logits, 1), "score each of the splits parts separately and "
             "return the mean and the std over them (you scored all N samples at once)"),
        ]
        for (wrong_mean, wrong_std), hint in mistakes:
            if _close(mean, wrong_mean, rel=1e-6) and _close(std, wrong_std, rel=1e-4):
                fail(hint, f"{name} returned ({mean:.6g}, {std:.6g}); expected "
                     f"({expected[0]:.6g}, {expected[1]:.6g})")
        fail(f"{name} returned a mean of {mean:.6g}, expected {expected[0]:.6g}: on each split, "
             "exp(mean_x KL(p(y|x) || p(y))) with p(y|x) = softmax(logits)")
    if not _close(std, expected[1], rel=1e-4):
        if _close(std, _inception_variant(logits, splits, ddof=1)[1], rel=1e-4):
            fail("use the standard deviation with ddof = 0 over the splits: np.std's default, "
                 "torch's .std(correction=0) (torch's .std() divides by splits - 1)")
        fail(f"{name} returned a std of {std:.6g}, expected {expected[1]:.6g}: the standard "
             "deviation (ddof = 0) of the scores of the splits")

    # closed forms: an undecided classifier scores 1; confident, even answers score C
    flat = _score_pair(call(f"{name}(equal logits, splits=5)", fn, torch.zeros(50, c,
                            dtype=torch.float64), 5, name=name), name)
    if not (_close(flat[0], 1.0, rel=1e-9) and abs(flat[1]) < 1e-9):
        fail(f"equal logits (p(y|x) = p(y) for every x) must give IS = 1 with std 0, got {flat}")
    sure = 30.0 * F.one_hot(torch.arange(100) % c, c).double()
    confident = _score_pair(call(f"{name}(confident logits, splits=1)", fn, sure, 1, name=name),
                            name)
    want = metrics.inception_score(sure, 1)[0]
    if not _close(confident[0], want, rel=1e-6):
        fail(f"confident predictions spread evenly over the {c} classes must give IS = {want:.6g} "
             f"(about C = {c}), got {confident[0]:.6g}")


def _neighbour_output(out, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    __tracebackhide__ = True
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{name} must return a pair (distances, indices), each of shape (Q, k)",
             f"got {type(out).__name__}")
    distances, indices = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor)
                          else v.detach().cpu() for v in out)
    if indices.is_floating_point() and not distances.is_floating_point():
        fail("return (distances, indices) in this order: you swapped them")
    if indices.dim() > 2:
        fail("return the indices of the neighbours in reference (integers), not the images")
    if indices.is_floating_point():
        fail("the indices must be integers, the positions of the neighbours in reference "
             "(torch.topk(...).indices or argsort)")
    return distances.double(), indices.long()


def _same_distances(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal distances up to float32 rounding, compared as squares: a distance computed as
    ``sqrt(|q|^2 + |r|^2 - 2 q.r)`` in float32 is off by up to ~0.02 near 0 (an exact copy)."""
    return bool(((got.double().pow(2) - want.pow(2)).abs() <= 1e-4 * want.pow(2) + 1e-3).all())


@evidence.graded
def check_nearest_neighbours(fn: Callable[..., tuple], *, seed: int = 0) -> None:
    """Check ``fn(queries, reference, k)``: the ``k`` nearest reference images of each query.

    Images ``(Q, 1, 28, 28)`` and ``(R, 1, 28, 28)`` (flattened to pixel vectors), the
    Euclidean distance ``||q - r||``; returns ``(distances, indices)``, both ``(Q, k)``
    (also for ``k = 1``), each row sorted by increasing distance, as
    :func:`ganlab.metrics.nearest_neighbours`. One query is an exact copy of a reference
    image: its first neighbour is that image, at distance 0.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "nearest_neighbours")
    g = torch.Generator().manual_seed(seed)
    reference, queries = _images(40, g), _images(6, g)
    queries[2] = reference[17]  # an exact copy
    q = len(queries)
    hints = {"must match the size of tensor": "flatten the images to pixel vectors first, "
             "x.flatten(1) of shape (N, 784): torch.cdist compares the rows of two matrices"}
    for k in (3, 1):
        before = (queries.clone(), reference.clone())
        out = call(f"{name}(queries, reference, k={k})", fn, queries, reference, k, name=name,
                   hints=hints)
        if not (torch.equal(queries, before[0]) and torch.equal(reference, before[1])):
            fail(f"{name} must not modify queries or reference in place")
        distances, indices = _neighbour_output(out, name)
        if _shape(indices) != (q, k) or _shape(distances) != (q, k):
            got = f"got distances {_shape(distances)} and indices {_shape(indices)}"
            if _shape(indices) == (k, q) and k > 1:
                fail(f"return one row per query: shape (Q, k) = {(q, k)}, not (k, Q)", got)
            if _shape(indices) == (q,):
                fail(f"keep the k dimension: return shape (Q, k) = {(q, k)} even for k = 1", got)
            fail(f"{name} must return distances and indices of shape (Q, k) = {(q, k)}: the k "
                 f"nearest reference images of each of the Q queries", got)
        want_d, want_i = metrics.nearest_neighbours(queries, reference, k)
        flat_q, flat_r = queries.flatten(1).double(), reference.flatten(1).double()
        all_d = torch.cdist(flat_q, flat_r)
        if not torch.equal(indices, want_i):
            if indices.min() >= 0 and indices.max() < q and indices.dim() == 2 \
                    and torch.equal(indices[:, 0], torch.arange(q)):
                fail("compare each query with the reference images, not with the other queries: "
                     "every query came out as its own nearest neighbour")
            farthest = all_d.topk(k, dim=1, largest=True).indices
            if torch.equal(indices, farthest):
                fail("the nearest neighbours have the smallest distances: sort in increasing "
                     "order (torch.topk(..., largest=False) or argsort)")
            if torch.equal(indices.sort(1).values, want_i.sort(1).values):
                fail("sort each row by increasing distance: the nearest neighbour comes first")
            l1 = torch.cdist(flat_q, flat_r, p=1).topk(k, dim=1, largest=False).indices
            if torch.equal(indices, l1):
                fail("use the Euclidean distance, the square root of the sum of squared pixel "
                     "differences, not the sum of absolute differences")
            fail(f"{name} did not find the k reference images nearest to each query (Euclidean "
                 "distance between the flattened images)",
                 f"indices of query 0: {indices[0].tolist()}, expected {want_i[0].tolist()}")
        if not _same_distances(distances, want_d):
            for wrong, hint in [
                (want_d**2, "return the Euclidean distance ||q - r||: take the square root of "
                 "the sum of squared differences"),
                (want_d / math.sqrt(flat_q.shape[1]), "sum the squared differences over the "
                 "pixels, do not average them: ||q - r|| = sqrt(sum_i (q_i - r_i)^2)"),
            ]:
                if _same_distances(distances, wrong):
                    fail(hint)
            fail(f"{name} returned the right neighbours at the wrong distances: return the "
                 "Euclidean distances ||q - r|| of the neighbours",
                 f"distances of query 0: {_fmt(distances[0])}, expected {_fmt(want_d[0])}")


@evidence.graded
def check_model_scores(fid: Callable[..., float],
                       inception_score: Callable[..., tuple[float, float]],
                       real_features: torch.Tensor,
                       samples: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *,
                       splits: int = 10) -> dict[str, dict]:
    """Score sample sets with the student's ``fid`` and IS, and check them against ganlab.metrics.

    ``real_features`` are classifier features ``(N, d)`` of real images; ``samples`` maps a
    model's name to the ``(features, logits)`` of its samples. ``fid(real_features,
    features)`` must fit a Gaussian to each feature matrix (mean and covariance with the
    ``N - 1`` normalisation, in float64) and return their Fréchet distance, as
    :func:`ganlab.metrics.fid` does; IS calls ``inception_score(logits, splits)``. Returns
    ``{name: {"fid": float, "is": (mean, std)}}``, computed by the student's functions.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    fid_name = _name(fid, "fid")
    scores = {}
    for model, (features, logits) in samples.items():
        inputs = (real_features.clone(), features.clone())
        out = call(f"{fid_name}(real_features, features of {model})", fid, *inputs, name=fid_name)
        if not (torch.equal(inputs[0], real_features) and torch.equal(inputs[1], features)):
            fail(f"{fid_name} must not modify the feature matrices in place")
        if isinstance(out, (np.ndarray, torch.Tensor)) and np.size(out) != 1:
            fail(f"{fid_name} must return one number, got an array of shape {tuple(np.shape(out))}")
        value = _number(out, fid_name)
        want = metrics.fid(real_features, features)
        if not math.isclose(value, want, rel_tol=1e-5, abs_tol=1e-6):
            def biased_fit(f):  # the covariance divided by N instead of N - 1
                mu, sigma = metrics.gaussian_statistics(f)
                return mu, sigma * (len(f) - 1) / len(f)

            biased = metrics.frechet_distance(*biased_fit(real_features), *biased_fit(features))
            if math.isclose(value, biased, rel_tol=1e-6):
                fail("divide the covariance by N - 1, not N (np.cov's default, as "
                     "ganlab.metrics.gaussian_statistics does)")
            fail(f"your {fid_name} gives {value:.6g} for {model}, ganlab.metrics.fid {want:.6g}: fit "
                 "N(mu, Sigma) to each (N, d) matrix, mean over the rows and np.cov(f, rowvar=False) "
                 "(d x d, not N x N), then call your frechet_distance")
        name = _name(inception_score, "inception_score")
        pair = _score_pair(call(f"{name}(logits, splits={splits})", inception_score,
                                logits.clone(), splits, name=name), name)
        want_is = metrics.inception_score(logits, splits)
        if not (_close(pair[0], want_is[0], rel=1e-5) and _close(pair[1], want_is[1], rel=1e-3)):
            fail(f"your inception_score gives {pair[0]:.6g} ± {pair[1]:.3g} for {model}, "
                 f"ganlab.metrics {want_is[0]:.6g} ± {want_is[1]:.3g}: do the logits of the "
                 "classifier (float32) need a step yours skips?")
        scores[model] = {"fid": value, "is": pair}
    return scores


def _copy_ratio(query_distances: torch.Tensor, test_distances: torch.Tensor, *, rank: int = 0,
                squared: bool = False, statistic: str = "median") -> float:
    """``statistic`` of the queries' ``rank``-th nearest distances over the same for the test images."""
    a, b = query_distances[:, rank], test_distances[:, rank]
    if squared:
        a, b = a.pow(2), b.pow(2)
    return (a.median() / b.median() if statistic == "median" else a.mean() / b.mean()).item()


@evidence.graded
def check_copy_ratio(fn: Callable[..., float], queries: Mapping[str, torch.Tensor],
                     train_images: torch.Tensor, test_images: torch.Tensor) -> dict[str, float]:
    """Check ``fn(queries, train_images, test_images)`` on each set of ``queries``.

    The copy ratio is the median distance from a query to its nearest training image,
    divided by the same median for ``test_images`` (real images never trained on):
    about 1 for a model that makes new images, well below 1 for one that copies. Checked
    against :func:`ganlab.metrics.nearest_neighbours`; returns ``{name: ratio}``.
    """
    __tracebackhide__ = True
    from ganlab import metrics

    name = _name(fn, "copy_ratio")
    nearest_two = lambda images: metrics.nearest_neighbours(images, train_images, 2)[0].double()
    test_d = nearest_two(test_images)
    ratios = {}
    for label, q in queries.items():
        inputs = (q.clone(), train_images.clone(), test_images.clone())
        out = call(f"{name}(queries = {label}, train_images, test_images)", fn, *inputs, name=name)
        if not all(torch.equal(a, b) for a, b in zip(inputs, (q, train_images, test_images), strict=True)):
            fail(f"{name} must not modify its images in place")
        value = _number(out, name)
        query_d = nearest_two(q)
        want = _copy_ratio(query_d, test_d)
        if not _close(value, want, rel=1e-4):
            variants = [
                (1 / want, "divide the queries' median by the test images' median, not the "
                 "other way round: below 1 must mean closer to the training set than new real images"),
                (_copy_ratio(query_d, test_d, statistic="mean"),
                 "use the median of the nearest distances (.median()), not the mean: one "
                 "outlier should not move the verdict"),
                (_copy_ratio(query_d, test_d, rank=1),
                 "use the distance to the nearest training image, column 0 of the distances"),
                (_copy_ratio(query_d, test_d, squared=True),
                 "use Euclidean distances (your nearest_neighbours), not squared ones"),
                (query_d[:, 0].median().item(), "divide by the test images' median distance "
                 "to the training set: a raw distance means nothing on its own"),
            ]
            for wrong, hint in variants:
                if _close(value, wrong, rel=1e-4):
                    fail(hint)
            fail(f"{name} gives {value:.6g} for {label}, expected {want:.6g}: median distance of the "
                 "queries to their nearest training image, divided by the same for test_images")
        ratios[label] = value
    return ratios
