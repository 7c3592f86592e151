#!/usr/bin/env python3
"""Reference values for mergetune's RBF interpolator from scipy.interpolate.RBFInterpolator.

Builds a few landscapes (5x5 grid, 5x5x4 grid, scattered points), fits scipy's interpolator
for every kernel with and without smoothing (epsilon given where scipy requires it, and also
for a scale-invariant kernel), evaluates it at query points inside and slightly outside the
box, fits scipy's local interpolant (`neighbors` = 20 and 50) on scattered 2-D and 3-D points
for a few kernels, computes leave-one-out errors for fixed held-out points, records the options scipy
rejects, and writes Tests/SurrogateTests/Fixtures/rbf_reference.json. `swift test` compares
against that file without Python.

    python3 scripts/crosscheck_rbf.py            # rewrite the fixture
    python3 scripts/crosscheck_rbf.py --check    # fail if the fixture is out of date
"""
import json
import math
import pathlib
import sys

import numpy as np
import scipy
from scipy.interpolate import RBFInterpolator

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "Tests/SurrogateTests/Fixtures/rbf_reference.json"
KERNELS = ["linear", "thin_plate_spline", "cubic", "quintic", "multiquadric",
           "inverse_multiquadric", "inverse_quadratic", "gaussian"]
NEEDS_EPSILON = {"multiquadric", "inverse_multiquadric", "inverse_quadratic", "gaussian"}


def score2(x):
    # An accuracy-like landscape with one basin (values 0.2..0.8).
    v, e = x[..., 0], x[..., 1]
    return 0.5 + 0.25 * np.exp(-((v - 1.1) ** 2 + (e - 0.6) ** 2)) - 0.04 * (v + e - 1.5) ** 2 + 0.02 * np.sin(3 * v)


def score3(x):
    return score2(x[..., :2]) + 0.1 * (x[..., 2] - 0.5) * (1.2 - x[..., 0])


def grid(levels):
    mesh = np.meshgrid(*levels, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def datasets():
    rng = np.random.default_rng(20260101)
    w = np.linspace(0, 2, 5)
    g2 = grid([w, w])
    g3 = grid([w, w, np.array([0.2, 0.4, 0.6, 0.8])])
    sc = rng.uniform(0, 2, size=(30, 2))
    out = []
    for name, y, f, lo, hi in [("grid5x5", g2, score2, [0, 0], [2, 2]),
                               ("grid5x5x4", g3, score3, [0, 0, 0.2], [2, 2, 0.8]),
                               ("scattered30", sc, score2, [0, 0], [2, 2])]:
        d = f(y)
        lo, hi = np.array(lo, float), np.array(hi, float)
        span = hi - lo
        # Query points: random in a box 10% larger than the data's (some extrapolation),
        # plus three data points (an interpolant reproduces them).
        q = lo - 0.1 * span + rng.uniform(size=(24, y.shape[1])) * 1.2 * span
        q = np.vstack([q, y[[0, len(y) // 2, len(y) - 1]]])
        out.append((name, y, d, q))
    return out


def cases():
    for kernel in KERNELS:
        eps_options = [1.7] if kernel in NEEDS_EPSILON else [None]
        if kernel == "thin_plate_spline":
            eps_options.append(2.5)   # epsilon also changes a scale-invariant kernel's fit
        for eps in eps_options:
            for smoothing in (0.0, 1e-3):
                yield dict(kernel=kernel, epsilon=eps, smoothing=smoothing, degree=None)
    # Explicit degrees: none at all (-1) for a positive definite kernel, and a quadratic tail.
    yield dict(kernel="gaussian", epsilon=1.7, smoothing=0.0, degree=-1)
    yield dict(kernel="thin_plate_spline", epsilon=None, smoothing=0.0, degree=2)
    yield dict(kernel="cubic", epsilon=None, smoothing=0.01, degree=2)


def fit(y, d, c):
    return RBFInterpolator(y, d, kernel=c["kernel"], epsilon=c["epsilon"],
                           smoothing=c["smoothing"], degree=c["degree"])


def main():
    fixture = {"scipy": scipy.__version__, "numpy": np.__version__,
               "datasets": [], "cases": [], "loo": [], "errors": [], "neighbors": []}
    for name, y, d, q in datasets():
        fixture["datasets"].append({"name": name, "points": y.tolist(), "values": d.tolist(),
                                    "queries": q.tolist()})
        for c in cases():
            interp = fit(y, d, c)
            fixture["cases"].append({"dataset": name, **c, "predictions": interp(q).tolist()})
        # Leave-one-out errors for every interior point (strictly inside the bounding box).
        lo, hi = y.min(axis=0), y.max(axis=0)
        interior = [i for i in range(len(y)) if np.all((y[i] > lo) & (y[i] < hi))]
        for c in [dict(kernel="thin_plate_spline", epsilon=None, smoothing=0.0, degree=None),
                  dict(kernel="gaussian", epsilon=1.7, smoothing=1e-3, degree=None)]:
            errors = []
            for i in interior:
                keep = np.arange(len(y)) != i
                errors.append(float(fit(y[keep], d[keep], c)(y[i:i + 1])[0] - d[i]))
            rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
            fixture["loo"].append({"dataset": name, **c, "held_out": interior, "errors": errors,
                                   "rmse": rmse, "rmse_percent_of_range": 100 * rmse / float(d.max() - d.min())})
    # The paper's protocol on the shipped synthetic grid: the interior points that
    # `leaveOneOutFidelity(seed: 0)` draws (GSL mt19937, pinned in the Swift tests).
    ta = np.loadtxt(ROOT / "Tests/SurrogateTests/Fixtures/ta_grid_5x5.csv", delimiter=",", comments="#", skiprows=6)
    y, d = ta[:, :2], ta[:, 2]
    held = [18, 7, 8, 18, 8, 12, 18, 16, 12, 16, 16, 13, 8, 17, 12, 7, 12, 11, 7, 7]
    c = dict(kernel="thin_plate_spline", epsilon=None, smoothing=0.0, degree=None)
    errors = []
    for i in held:
        keep = np.arange(len(y)) != i
        errors.append(float(fit(y[keep], d[keep], c)(y[i:i + 1])[0] - d[i]))
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    fixture["datasets"].append({"name": "ta_grid_5x5", "points": y.tolist(), "values": d.tolist(), "queries": []})
    fixture["loo"].append({"dataset": "ta_grid_5x5", **c, "held_out": held, "errors": errors,
                           "rmse": rmse, "rmse_percent_of_range": 100 * rmse / float(d.max() - d.min())})
    # Local interpolation (scipy's `neighbors`): scattered points, so no two data points are at
    # the same distance from a query (a tie would make the neighbour set implementation-defined).
    rng = np.random.default_rng(20261202)
    for name, y, f in [("scattered400_2d", rng.uniform(0, 2, size=(400, 2)), score2),
                       ("scattered600_3d", rng.uniform(0, 2, size=(600, 3)) * [1, 1, 0.3] + [0, 0, 0.35], score3)]:
        d = f(y)
        lo, hi = y.min(axis=0), y.max(axis=0)
        q = lo - 0.05 * (hi - lo) + rng.uniform(size=(30, y.shape[1])) * 1.1 * (hi - lo)
        q = np.vstack([q, y[[3, 100, 250]]])
        fixture["datasets"].append({"name": name, "points": y.tolist(), "values": d.tolist(), "queries": q.tolist()})
        for c in [dict(kernel="thin_plate_spline", epsilon=None, smoothing=0.0, degree=None),
                  dict(kernel="cubic", epsilon=None, smoothing=1e-3, degree=None),
                  dict(kernel="quintic", epsilon=None, smoothing=0.0, degree=None),
                  # epsilon 8, not 1.7: with 1.7 the Gaussian system on 50 neighbours of the 2-D
                  # set has condition number ~1e17 (no two LU codes agree there); with 8, ≤ 6e7.
                  dict(kernel="gaussian", epsilon=8.0, smoothing=0.0, degree=None),
                  dict(kernel="multiquadric", epsilon=1.7, smoothing=1e-3, degree=None)]:
            for k in (20, 50):
                interp = RBFInterpolator(y, d, kernel=c["kernel"], epsilon=c["epsilon"], smoothing=c["smoothing"],
                                         degree=c["degree"], neighbors=k)
                fixture["neighbors"].append({"dataset": name, **c, "neighbors": k, "predictions": interp(q).tolist()})
    # Options scipy rejects: the Swift port must reject them too.
    y = np.array(fixture["datasets"][0]["points"])
    d = np.array(fixture["datasets"][0]["values"])
    for c in [dict(kernel="gaussian", epsilon=None, smoothing=0.0, degree=None, points=25),
              dict(kernel="multiquadric", epsilon=None, smoothing=0.0, degree=None, points=25),
              dict(kernel="thin_plate_spline", epsilon=None, smoothing=0.0, degree=None, points=2),
              dict(kernel="quintic", epsilon=None, smoothing=0.0, degree=None, points=5),
              dict(kernel="cubic", epsilon=None, smoothing=0.0, degree=-2, points=25)]:
        try:
            fit(y[:c["points"]], d[:c["points"]], c)
            raise SystemExit(f"scipy accepted {c}")
        except ValueError as error:
            fixture["errors"].append({**c, "scipy_message": str(error)})
    text = json.dumps(fixture, indent=None, separators=(",", ":")) + "\n"
    if "--check" in sys.argv:
        old = json.loads(FIXTURE.read_text())
        ok = all(old.get(key) == fixture[key] for key in ("cases", "loo", "neighbors"))
        print("fixture up to date" if ok else "fixture differs from scipy's current output")
        sys.exit(0 if ok else 1)
    FIXTURE.write_text(text)
    print(f"wrote {FIXTURE.relative_to(ROOT)}: {len(fixture['cases'])} cases, "
          f"{len(fixture['loo'])} leave-one-out sets, {len(fixture['neighbors'])} neighbors cases, scipy {scipy.__version__}")


if __name__ == "__main__":
    main()
