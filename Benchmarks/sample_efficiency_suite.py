#!/usr/bin/env python3
"""Writes the sample-efficiency suite (Benchmarks/sample-efficiency.md): test functions sampled on
the paper's grid shapes, 5x5 for two merge weights on [0, 2]^2 and 5x5x4 for (vl_weight,
exp_weight, density) on [0, 2]^2 x [0.1, 1], one landscape CSV each. Every optimizer then
maximizes the thin-plate RBF interpolant of each grid.

Usage: python3 Benchmarks/sample_efficiency_suite.py OUTPUT_DIR
Deterministic: plain Python, no randomness. Scores are -f (higher is better); the grid point
u in [0, 1]^d (the landscape's bounds scaled to the unit box) maps affinely to f's box.
"""
import math
import os
import sys

WEIGHTS = [0.0, 0.5, 1.0, 1.5, 2.0]
DENSITIES = [0.1, 0.4, 0.7, 1.0]


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def six_hump_camel(x):
    x1, x2 = x
    return (4 - 2.1 * x1 ** 2 + x1 ** 4 / 3) * x1 ** 2 + x1 * x2 + (-4 + 4 * x2 ** 2) * x2 ** 2


def log_goldstein_price(x):
    x1, x2 = x
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1 ** 2 - 14 * x2 + 6 * x1 * x2 + 3 * x2 ** 2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1 ** 2 + 48 * x2 - 36 * x1 * x2 + 27 * x2 ** 2)
    return math.log(a * b)


def hartmann3(x):
    alpha = [1.0, 1.2, 3.0, 3.2]
    a = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
    p = [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
    return -sum(alpha[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j] * 1e-4) ** 2 for j in range(3)))
                for i in range(4))


def log_rosenbrock(x):
    s = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))
    return math.log(1 + s)


def rotated_ellipse(center, axes, angles):
    """A quadratic bowl with axis lengths `axes`, rotated by plane rotations (i, j, angle)."""
    def f(x):
        u = [xi - ci for xi, ci in zip(x, center)]
        for i, j, a in angles:
            c, s = math.cos(a), math.sin(a)
            u[i], u[j] = c * u[i] - s * u[j], s * u[i] + c * u[j]
        return sum((ui / ai) ** 2 for ui, ai in zip(u, axes))
    return f


def two_gaussians(narrow, wide):
    """Minus a sum of two Gaussian bumps: a narrow tall one (global) and a wide lower one."""
    (c1, w1, h1), (c2, w2, h2) = narrow, wide
    def f(x):
        d1 = sum((a - b) ** 2 for a, b in zip(x, c1))
        d2 = sum((a - b) ** 2 for a, b in zip(x, c2))
        return -(h1 * math.exp(-d1 / (2 * w1 * w1)) + h2 * math.exp(-d2 / (2 * w2 * w2)))
    return f


# name: (function, its box). Boxes of the published functions are the usual ones; the
# synthetic ones live on the unit box, their optima off the grid's levels.
SUITE_2D = {
    "branin": (branin, [(-5, 10), (0, 15)]),
    "six_hump_camel": (six_hump_camel, [(-3, 3), (-2, 2)]),
    "log_goldstein_price": (log_goldstein_price, [(-2, 2), (-2, 2)]),
    "rotated_ellipse_2d": (rotated_ellipse([0.62, 0.37], [0.25, 0.9], [(0, 1, 0.6)]), [(0, 1), (0, 1)]),
    "two_gaussians_2d": (two_gaussians(([0.78, 0.3], 0.16, 1.0), ([0.25, 0.7], 0.3, 0.8)), [(0, 1), (0, 1)]),
}
SUITE_3D = {
    "hartmann3": (hartmann3, [(0, 1)] * 3),
    "log_rosenbrock3": (log_rosenbrock, [(-2, 2)] * 3),
    "rotated_ellipse_3d": (rotated_ellipse([0.62, 0.37, 0.55], [0.25, 0.6, 1.2], [(0, 1, 0.6), (1, 2, -0.5)]), [(0, 1)] * 3),
    "two_gaussians_3d": (two_gaussians(([0.78, 0.3, 0.75], 0.18, 1.0), ([0.25, 0.7, 0.35], 0.3, 0.8)), [(0, 1)] * 3),
}


def fmt(x):
    return repr(round(x, 12))


def write(path, name, f, box, bounds, names, levels):
    grid = [[]]
    for lv in levels:
        grid = [g + [v] for g in grid for v in lv]
    with open(path, "w") as out:
        out.write(f"# Sample-efficiency suite: {name} sampled on a {'x'.join(str(len(l)) for l in levels)} grid; not a measurement.\n")
        out.write(f"# score = -{name}(x), x = the grid point scaled affinely from the bounds to the box {box}.\n")
        out.write("# Written by Benchmarks/sample_efficiency_suite.py (Benchmarks/sample-efficiency.md).\n")
        out.write("#@bounds " + " ".join(f"{n}={fmt(lo)}:{fmt(hi)}" for n, (lo, hi) in zip(names, bounds)) + "\n")
        out.write(",".join(names + ["score"]) + "\n")
        for p in grid:
            x = [blo + (v - lo) / (hi - lo) * (bhi - blo) for v, (lo, hi), (blo, bhi) in zip(p, bounds, box)]
            out.write(",".join(fmt(v) for v in p) + "," + fmt(-f(x)) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, (f, box) in SUITE_2D.items():
        write(os.path.join(out, f"{name}.csv"), name, f, box, [(0, 2), (0, 2)], ["vl_weight", "exp_weight"],
              [WEIGHTS, WEIGHTS])
    for name, (f, box) in SUITE_3D.items():
        write(os.path.join(out, f"{name}.csv"), name, f, box, [(0, 2), (0, 2), (0.1, 1)],
              ["vl_weight", "exp_weight", "density"], [WEIGHTS, WEIGHTS, DENSITIES])


if __name__ == "__main__":
    main()
