"""CCA / SVCCA / PWCCA / CKA on analytic cases (docs/design.md §D19)."""

import warnings

import numpy as np
import pytest

from hear_mwmae_tools.analysis.matrices import matrix_null, permutation_null, similarity_matrix
from hear_mwmae_tools.analysis.similarity import cca, linear_cka, pwcca, pwcca_compat, svcca


def _rng(seed=0):
    return np.random.default_rng(seed)


def _rotation(p, seed=1):
    q, _ = np.linalg.qr(_rng(seed).standard_normal((p, p)))
    return q


def _shared(n=3000, p=8, k=4, noise=1.0, seed=0):
    """x, y sharing a k-dim latent signal, each with independent noise."""
    r = _rng(seed)
    z = r.standard_normal((n, k))
    x = z @ r.standard_normal((k, p)) + noise * r.standard_normal((n, p))
    y = z @ r.standard_normal((k, p)) + noise * r.standard_normal((n, p))
    return x, y


def test_identical_and_rotated_representations_give_one():
    x = _rng().standard_normal((500, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1])
    for y in (x, x @ _rotation(6), 3.0 * x @ _rotation(6) + 7.0):
        np.testing.assert_allclose(cca(x, y), 1.0, atol=1e-10)
        assert pwcca(x, y).similarity == pytest.approx(1.0, abs=1e-10)
        assert svcca(x, y) == pytest.approx(1.0, abs=1e-10)
        assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-10)  # CKA: orthogonal maps, isotropic scaling
    assert linear_cka(x, x @ np.diag([1, 1, 1, 1, 1, 30.0])) < 0.99  # but not an anisotropic one
    assert cca(x, x @ np.diag([1, 1, 1, 1, 1, 30.0])).min() == pytest.approx(1.0)  # which CCA ignores


def test_independent_noise_is_near_zero_and_matches_the_permutation_null():
    r = _rng(2)
    x, y = r.standard_normal((4000, 8)), r.standard_normal((4000, 8))
    rho = cca(x, y)
    assert rho.max() < 0.12 and rho.mean() < 0.05
    res = pwcca(x, y)
    null = permutation_null(x, y, "pwcca", n_perm=20, seed=0)
    assert abs(res.similarity - null.mean()) < 4 * null.std() + 0.01
    assert null.mean() < 0.05
    xs, ys = _shared(noise=0.3)
    assert pwcca(xs, ys).similarity > null.mean() + 10 * null.std()  # related data clear the null


def test_pwcca_weights_and_ordering():
    x, y = _shared(noise=1.0)
    res = pwcca(x, y)
    assert res.alpha.sum() == pytest.approx(1.0) and np.all(res.alpha >= 0)
    assert np.all(np.diff(res.rho) <= 1e-12) and res.rho.min() >= 0 and res.rho.max() <= 1
    assert res.mean_cca < res.similarity < 1.0  # PWCCA down-weights the noise directions
    assert res.distance == pytest.approx(1 - res.similarity)


def test_pwcca_is_asymmetric():
    # x is mostly y's first neuron (plus two weak noise neurons); y has seven more strong neurons.
    # Seen from x, the ρ = 1 pair carries most of x; seen from y, it carries one neuron of eight.
    r = _rng(4)
    y = r.standard_normal((3000, 8))
    x = np.column_stack([y[:, 0], 0.1 * r.standard_normal((3000, 2))])
    rho = pwcca(x, y).rho
    assert rho[0] == pytest.approx(1.0) and rho[1] < 0.1
    sx = pwcca(x, y, direction="x").similarity
    sy = pwcca(x, y, direction="y").similarity
    assert sx > 0.75 and sy < 0.5
    assert pwcca(x, y, direction="mean").similarity == pytest.approx(0.5 * (sx + sy), abs=1e-12)
    assert pwcca(x, y, direction="smaller").direction == "x"
    assert pwcca(y, x, direction="y").similarity == pytest.approx(sx, abs=1e-12)


def test_svcca_compat_mode_agrees_monotonically_with_paper_mode():
    levels = [0.1, 0.5, 1.0, 2.0, 4.0]
    paper = [pwcca(*_shared(noise=s, seed=5)).similarity for s in levels]
    compat = [pwcca(*_shared(noise=s, seed=5), mode="svcca_compat").similarity for s in levels]
    assert np.all(np.diff(paper) < 0) and np.all(np.diff(compat) < 0)
    x = _shared(seed=6)[0]
    assert pwcca_compat(x, x @ _rotation(8)).similarity == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="fewer neurons than datapoints"):
        pwcca_compat(x[:5], x[:5])


def test_linear_cka_matches_its_definition():
    x, y = _shared(n=400, noise=1.0, seed=7)
    xc, yc = x - x.mean(0), y - y.mean(0)
    direct = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert linear_cka(x, y) == pytest.approx(direct, rel=1e-10)
    assert 0 < direct < 1


def test_degenerate_and_bad_inputs():
    x = _rng().standard_normal((100, 4))
    assert np.isnan(pwcca(np.zeros((100, 4)), x).similarity)  # e.g. a pruned (all-zero) head
    assert np.isnan(linear_cka(x, np.ones((100, 3))))
    x_const = np.concatenate([x, np.ones((100, 1))], axis=1)
    assert pwcca(x_const, x).similarity == pytest.approx(1.0, abs=1e-10)  # the constant neuron is dropped
    with pytest.raises(ValueError, match="same datapoints"):
        cca(x, x[:50])
    with pytest.raises(ValueError, match="2-D"):
        cca(x[:, 0], x)
    with pytest.raises(TypeError):
        cca([[1.0, 2.0]], x)
    with pytest.raises(ValueError, match="direction"):
        pwcca(x, x, direction="both")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cca(x[:20], x[:20])
    assert any("overfits" in str(w.message) for w in caught)


def test_similarity_matrix_within_and_between_models():
    r = _rng(8)
    base = r.standard_normal((2000, 6))
    reps = [base, base @ _rotation(6), r.standard_normal((2000, 6)), base[:, :3] + 0.5 * r.standard_normal((2000, 3))]
    m = similarity_matrix(reps, metric="pwcca", direction="mean")
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-9)
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    assert m[0, 1] == pytest.approx(1.0, abs=1e-9) and m[0, 2] < 0.1
    mx = similarity_matrix(reps, metric="pwcca", direction="x")
    for i, j in ((0, 3), (3, 0), (2, 3)):
        assert mx[i, j] == pytest.approx(pwcca(reps[i], reps[j], direction="x").similarity, abs=1e-10)
    cross = similarity_matrix(reps[:2], reps, metric="cka")
    assert cross.shape == (2, 4)
    assert cross[1, 3] == pytest.approx(linear_cka(reps[1], reps[3]), rel=1e-8)
    assert similarity_matrix(reps, metric="svcca")[0, 1] == pytest.approx(1.0, abs=1e-9)
    null = matrix_null(reps, metric="pwcca", n_perm=4)
    assert null.shape == (4,) and np.all(null < 0.1)
    with pytest.raises(ValueError, match="metric"):
        similarity_matrix(reps, metric="rsa")
