"""Which stored angles are wrong: a label-noise model of the takes' harmonic profiles.

Each take is described by its harmonic profile (`datasets.harmonics.harmonic_profile`): the
level of harmonics 2..H relative to the fundamental, plus the fundamental's signal-to-noise
ratio. For these recordings the angle shows in those levels (the speaker's directivity, the
room), whatever the take's gain. The model, fitted by EM to the training and validation
takes of one run:

- each angle a has a mean profile mu_a; every angle shares one covariance Sigma (harmonics
  rise and fall together when a take's room response changes, so Sigma is full, shrunk a
  little towards its diagonal);
- a take's stored angle y is its true angle with probability 1 - eps - delta; with
  probability eps it was recorded at another angle (each equally likely); with probability
  delta it is broken and fits no angle (a broad component around all takes: a clipped take,
  a dropout, a take of another frequency);
- a harmonic within `CENSOR_MARGIN_DB` of its noise floor is *censored*: it only says that the
  harmonic is weaker than floor + margin (a factor Phi((u - mu) / sd) instead of a density),
  because where the floor lies depends on the take's gain, not on its angle.

eps and delta are estimated, not set: the model learns how many labels are wrong before it
judges any take, so the cut does not list a fixed number whatever the noise rate. Every
training take gets the posterior probability that its stored angle is wrong (or that it is
broken) and the angle it most likely is; the rule lists a take when that probability is
above one half, and the expected number of false listings is the sum of (1 - p) over the
listed takes. Nothing here is fitted to the ranker, so a take the ranker has memorised
under its wrong label is judged by its sound alone.

Shapes: n takes, d features (harmonics 2..H that exist, then the fundamental's SNR), A angles.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CENSOR_MARGIN_DB = 6.0
"""A harmonic less than this far above its noise floor is treated as buried in noise."""
ITERATIONS = 80
COVARIANCE_SHRINK = 0.1
VARIANCE_FLOOR_DB2 = 0.25
"""Smallest variance of a feature (dB^2): levels are never known better than half a dB."""
EPS_START, DELTA_START = 0.1, 0.02
EPS_MAX, DELTA_MAX = 0.45, 0.2
"""Beyond half of the labels wrong, which angle is which cannot be told apart."""
BROAD_SCALE = 3.0
"""The broken-take component's spread, in robust SDs of all takes."""
_LOG_2PI = float(np.log(2 * np.pi))


def log_normal_cdf(z: np.ndarray) -> np.ndarray:
    """log Phi(z), elementwise, accurate far into both tails (no underflow for z << 0).

    log Phi(z) = log(erfc(-z / sqrt 2) / 2); erfc by the Chebyshev fit of Numerical Recipes
    (fractional error below 1.2e-7), whose log is computed directly for large arguments.
    """
    x = -np.asarray(z, dtype=np.float64) / np.sqrt(2.0)
    ax = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * ax)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    log_erfc_abs = np.log(t) - ax * ax + poly  # log erfc(|x|)
    # x < 0: erfc(x) = 2 - erfc(|x|)
    neg = np.log(np.maximum(2.0 - np.exp(log_erfc_abs), 1e-300))
    return np.where(x >= 0, log_erfc_abs, neg) - np.log(2.0)


@dataclass
class ProfileFeatures:
    """The model's view of n takes: values (NaN where censored or absent), censor points, masks. (n, d) each."""

    values: np.ndarray
    censor_at: np.ndarray
    observed: np.ndarray
    censored: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: np.ndarray) -> "ProfileFeatures":
        return ProfileFeatures(self.values[rows], self.censor_at[rows], self.observed[rows], self.censored[rows])


def profile_features(levels: np.ndarray, floors: np.ndarray, margin_db: float = CENSOR_MARGIN_DB) -> ProfileFeatures:
    """Features from `harmonic_profile` output: levels, floors (n, H) in dB relative to the fundamental.

    Harmonics 2..H that any take holds, each censored within `margin_db` of its floor, then
    the fundamental's signal-to-noise ratio (-floors[:, 0], never censored).
    """
    levels, floors = np.asarray(levels, dtype=np.float64), np.asarray(floors, dtype=np.float64)
    held = ~np.isnan(levels[:, 1:]).all(axis=0)
    harm, floor = levels[:, 1:][:, held], floors[:, 1:][:, held]
    censor_at = floor + margin_db
    censored = ~np.isnan(harm) & ~np.isnan(censor_at) & (harm < censor_at)
    observed = ~np.isnan(harm) & ~censored
    snr = np.nan_to_num(-floors[:, :1], nan=0.0)
    return ProfileFeatures(
        values=np.hstack([np.where(observed, harm, np.nan), snr]),
        censor_at=np.hstack([np.where(censored, censor_at, np.nan), np.full_like(snr, np.nan)]),
        observed=np.hstack([observed, np.ones_like(snr, dtype=bool)]),
        censored=np.hstack([censored, np.zeros_like(snr, dtype=bool)]),
    )


@dataclass
class LabelNoiseModel:
    """Fitted parameters: angle means (A, d), shared covariance (d, d), the broken-take component, eps, delta."""

    angles: np.ndarray  # (A,)
    means: np.ndarray
    covariance: np.ndarray
    eps: float
    delta: float
    broad_mean: np.ndarray  # (d,)
    broad_covariance: np.ndarray  # (d, d)


def _log_density(f: ProfileFeatures, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """(n, A): log density of each take under each mean: Gaussian over the observed features,
    Phi over the censored ones (their marginal; correlations with the observed are ignored)."""
    out = np.zeros((len(f), len(means)))
    patterns, which = np.unique(f.observed, axis=0, return_inverse=True)
    for g, mask in enumerate(patterns):
        rows, idx = np.flatnonzero(which.ravel() == g), np.flatnonzero(mask)
        if len(idx) == 0:
            continue
        sub = cov[np.ix_(idx, idx)]
        diff = f.values[rows][:, None, idx] - means[None][:, :, idx]  # (r, A, o)
        maha = np.einsum("rao,op,rap->ra", diff, np.linalg.inv(sub), diff)
        out[rows] += -0.5 * (maha + np.linalg.slogdet(sub)[1] + len(idx) * _LOG_2PI)
    sd = np.sqrt(np.diag(cov))
    z = (np.nan_to_num(f.censor_at)[:, None, :] - means[None]) / sd
    return out + np.where(f.censored[:, None, :], log_normal_cdf(z), 0.0).sum(axis=2)


def posteriors(model: LabelNoiseModel, f: ProfileFeatures, labels: np.ndarray) -> np.ndarray:
    """(n, A + 1): P(recorded at angle a | profile, stored label), last column P(broken).

    `labels` (n,): index of each take's stored angle in `model.angles`.
    """
    n, A = len(f), len(model.angles)
    prior = np.full((n, A), np.log(model.eps / max(A - 1, 1)))
    prior[np.arange(n), labels] = np.log(max(1.0 - model.eps - model.delta, 1e-12))
    broken = _log_density(f, model.broad_mean[None], model.broad_covariance) + np.log(max(model.delta, 1e-300))
    joint = np.concatenate([_log_density(f, model.means, model.covariance) + prior, broken], axis=1)
    joint -= joint.max(axis=1, keepdims=True)
    p = np.exp(joint)
    return p / p.sum(axis=1, keepdims=True)


def _truncated_moments(f: ProfileFeatures, mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[x], E[x^2] (n, d) under one angle's marginals: censored features as normals truncated at their censor point."""
    u = np.nan_to_num(f.censor_at)
    a = (u - mean) / sd
    ratio = np.exp(-0.5 * a * a - 0.5 * _LOG_2PI - log_normal_cdf(a))  # phi(a) / Phi(a)
    first = np.where(f.censored, mean - sd * ratio, np.nan_to_num(f.values))
    second = np.where(f.censored, mean**2 + sd**2 - sd * (u + mean) * ratio, np.nan_to_num(f.values) ** 2)
    return first, second


def _start(f: ProfileFeatures, labels: np.ndarray, A: int) -> LabelNoiseModel:
    """Per-angle medians, a diagonal covariance of robust spreads, and a broad component around all takes."""
    filled = np.where(f.censored, f.censor_at, f.values)
    med_all = np.nanmedian(filled, axis=0)
    means = np.stack([np.nanmedian(filled[labels == a], axis=0) if (labels == a).any() else med_all for a in range(A)])
    means = np.where(np.isnan(means), med_all[None], means)
    spread = 1.4826 * np.nanmedian(np.abs(filled - means[labels]), axis=0) + 0.5
    broad = BROAD_SCALE * (1.4826 * np.nanmedian(np.abs(filled - med_all), axis=0) + 1.0)
    return LabelNoiseModel(np.arange(A), means, np.diag(spread**2), EPS_START, DELTA_START, med_all, np.diag(broad**2))


def _m_step(f: ProfileFeatures, resp: np.ndarray, model: LabelNoiseModel) -> tuple[np.ndarray, np.ndarray]:
    """New angle means (A, d) and shared covariance (d, d) from the responsibilities (n, A)."""
    n, d = f.values.shape
    sd = np.sqrt(np.diag(model.covariance))
    moments = [_truncated_moments(f, model.means[a], sd) for a in range(len(model.means))]
    weight = resp.sum(axis=0) + 1e-12
    means = np.stack([(resp[:, a, None] * first).sum(axis=0) / weight[a] for a, (first, _) in enumerate(moments)])
    scatter = np.zeros((d, d))
    for a, (first, second) in enumerate(moments):
        diff = first - means[a]
        scatter += (resp[:, a, None] * diff).T @ diff
        # A censored feature's own spread inside its truncation: on the diagonal only.
        scatter[np.diag_indices(d)] += (resp[:, a, None] * np.where(f.censored, second - first**2, 0.0)).sum(axis=0)
    cov = scatter / weight.sum()
    cov = (1 - COVARIANCE_SHRINK) * cov + COVARIANCE_SHRINK * np.diag(np.diag(cov))
    values, vectors = np.linalg.eigh(cov)
    return means, (vectors * np.maximum(values, VARIANCE_FLOOR_DB2)) @ vectors.T


def fit_label_noise(f: ProfileFeatures, labels: np.ndarray, n_angles: int, iterations: int = ITERATIONS) -> LabelNoiseModel:
    """EM for the model of the module docstring. `labels` (n,) index the stored angle of each take (0..n_angles-1)."""
    if n_angles < 2:
        raise ValueError("the label-noise model needs takes at two or more angles")
    model = _start(f, labels, n_angles)
    for _ in range(iterations):
        post = posteriors(model, f, labels)
        resp, broken = post[:, :n_angles], post[:, n_angles]
        means, cov = _m_step(f, resp, model)
        wrong = 1.0 - resp[np.arange(len(f)), labels] - broken
        model = LabelNoiseModel(model.angles, means, cov, float(np.clip(wrong.mean(), 1e-4, EPS_MAX)),
                                float(np.clip(broken.mean(), 1e-4, DELTA_MAX)), model.broad_mean, model.broad_covariance)
    return model


@dataclass
class LabelVerdicts:
    """Per training take (R,): P(stored angle wrong or take broken), P(broken), the most likely angle and its
    probability; the whole posterior (R, A + 1: each of the A `angles`, then broken); and the model's estimate
    of the share of wrong labels (eps) and broken takes (delta)."""

    p_wrong: np.ndarray
    eps: float
    delta: float
    posterior: np.ndarray
    angles: np.ndarray

    @property
    def p_broken(self) -> np.ndarray:
        """(R,) P(broken): the posterior's last column."""
        return self.posterior[:, -1]

    @property
    def likely_angle(self) -> np.ndarray:
        """(R,) the angle each take was most likely recorded at."""
        return self.angles[self.posterior[:, :-1].argmax(axis=1)]

    @property
    def p_likely(self) -> np.ndarray:
        """(R,) the posterior probability of `likely_angle`."""
        return self.posterior[:, :-1].max(axis=1)

    def listed(self) -> np.ndarray:
        """(R,) bool: more likely wrong than right."""
        return self.p_wrong > 0.5


def judge_labels(f: ProfileFeatures, stored_angles: np.ndarray, judged: np.ndarray) -> LabelVerdicts:
    """Fit the model to every take in `f` (stored angles (n,)) and judge the takes `judged` (indices, (R,))."""
    angles, labels = np.unique(np.asarray(stored_angles, dtype=np.float64), return_inverse=True)
    model = fit_label_noise(f, labels, len(angles))
    post = posteriors(model, f.take(judged), labels[judged])
    wrong = 1.0 - post[np.arange(len(judged)), labels[judged]]
    return LabelVerdicts(p_wrong=wrong, eps=model.eps, delta=model.delta, posterior=post, angles=angles)
