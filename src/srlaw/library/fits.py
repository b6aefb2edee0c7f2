"""What the law library's fit is, as data: per metric the shared depth term, each dataset's level and curvature,
a new dataset's prior and the noise model — read from and written to the index (``srlaw.library.index``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

METRICS = ("hr@10", "ndcg@10")  # what the library's laws predict
BETA_BOUNDS = (0.05, 4.0)
CURVATURE_NODES = 7
CURVATURE_SD_FLOOR = 0.25  # log-scale: even a library of look-alike datasets leaves the curvature this uncertain


@dataclass
class Prior:
    """A new dataset's level before its runs: mean (c0 + c1·log probe, a_mean), covariance ``cov`` at the library's
    mean log probe ``z_mean``; away from it the regression's own uncertainty adds ``mu_var · (z − z_mean)² / z_ss``
    to mu's variance (an ordinary least-squares prediction), so a dataset unlike any in the library gets a wider
    prior. ``z_ss`` = 0: the slope was fixed (too few datasets), no such term."""

    c0: float
    c1: float
    a_mean: float
    cov: np.ndarray
    z_mean: float = 0.0
    z_ss: float = 0.0
    mu_var: float = 0.0

    def mean(self, probe: float) -> np.ndarray:
        return np.array([self.c0 + self.c1 * math.log(probe), self.a_mean])

    def cov_at(self, probe: float) -> np.ndarray:
        cov = np.array(self.cov, float)
        if self.z_ss > 0:
            cov[0, 0] += self.mu_var * (math.log(probe) - self.z_mean) ** 2 / self.z_ss
        return cov

    def to_dict(self) -> dict:
        return {"c0": self.c0, "c1": self.c1, "a_mean": self.a_mean, "cov": self.cov.tolist(),
                "z_mean": self.z_mean, "z_ss": self.z_ss, "mu_var": self.mu_var}

    @classmethod
    def from_dict(cls, d: dict) -> "Prior":
        return cls(d["c0"], d["c1"], d["a_mean"], np.asarray(d["cov"], float),
                   *(float(d.get(k, 0.0)) for k in ("z_mean", "z_ss", "mu_var")))


@dataclass
class Noise:
    """s² = s0² + c / (n_users · y) on the log scale."""

    s0_sq: float
    c: float

    def var(self, n_users, y) -> np.ndarray:
        return self.s0_sq + self.c / (np.asarray(n_users, float) * np.maximum(np.asarray(y, float), 1e-6))

    def to_dict(self) -> dict:
        return {"s0_sq": self.s0_sq, "c": self.c}


@dataclass
class LibraryFit:
    """The library's fit for one metric: depth term, each dataset's level and curvature, prior, noise."""

    metric: str
    w: float
    gamma: float
    levels: dict  # dataset -> (mu, a, beta)
    prior: Prior
    noise: Noise
    # extra log-scale variance of extrapolations (inner leave-one-dataset-out), per number of calibration runs
    # (1, 2, 3, …): the fewer runs pin a level, the less the shared shape's misfit shows beside the prior's spread
    misfit: tuple = (0.0,)
    # each library dataset's probe score (the prior's input) and the range of the metric its runs reached: a new
    # dataset outside the first, or a prediction outside the second, is flagged as beyond what the library has seen
    probes: dict = field(default_factory=dict)
    envelope: tuple = ()

    @property
    def probe_range(self) -> tuple[float, float] | None:
        return (min(self.probes.values()), max(self.probes.values())) if self.probes else None

    @property
    def curvatures(self) -> tuple[list[float], list[float]]:
        """The curvatures a new dataset may have, with their prior weights: log beta normal with the library
        datasets' mean and spread (inflated for a new dataset), on Gauss–Hermite nodes — so a dataset that
        saturates earlier or later than any in the library still has prior mass."""
        logb = np.log([float(v[2]) for v in self.levels.values()])
        n = len(logb)
        sd = max(float(np.std(logb, ddof=1)) if n > 1 else 0.0, CURVATURE_SD_FLOOR) * math.sqrt(1 + 1 / n)
        nodes, weights = np.polynomial.hermite_e.hermegauss(CURVATURE_NODES)
        betas = np.clip(np.exp(logb.mean() + sd * nodes), *BETA_BOUNDS)
        return betas.tolist(), (weights / weights.sum()).tolist()

    def misfit_for(self, n_runs: int) -> float:
        """The misfit variance of a law calibrated on ``n_runs`` runs (zero runs: as one). More runs than the
        measured designs is a calibration set the library never tried: it gets the largest misfit measured at any
        number of runs, not the last (a narrower posterior shows more of the shared shape's error, so the misfit
        need not shrink as runs are added)."""
        if n_runs > len(self.misfit):
            return float(max(self.misfit))
        return float(self.misfit[max(n_runs, 1) - 1])

    def to_dict(self) -> dict:
        return {"metric": self.metric, "w": self.w, "gamma": self.gamma,
                "levels": {k: {"mu": float(v[0]), "a": float(v[1]), "beta": float(v[2])} for k, v in self.levels.items()},
                "prior": self.prior.to_dict(), "noise": self.noise.to_dict(), "misfit": list(self.misfit),
                "probes": dict(self.probes), "envelope": list(self.envelope)}

    @classmethod
    def from_dict(cls, d: dict) -> "LibraryFit":
        return cls(d["metric"], float(d["w"]), float(d["gamma"]),
                   {k: np.array([v["mu"], v["a"], v["beta"]]) for k, v in d["levels"].items()},
                   Prior.from_dict(d["prior"]), Noise(**d["noise"]),
                   tuple(float(v) for v in np.atleast_1d(d.get("misfit", 0.0))),  # an old index: one number
                   {k: float(v) for k, v in d.get("probes", {}).items()}, tuple(d.get("envelope", ())))
