#!/usr/bin/env python3
"""Writes the quickstart landscapes in Surrogates/: analytic test functions sampled on the
paper's grid shapes (5x5 for two merge weights, 5x5x4 with density). They stand in for
measured landscapes until real ones exist; each file says so in its provenance lines.

Usage: python3 scripts/make_analytic_landscapes.py [OUTPUT_DIR]   (default: Surrogates/)
Deterministic: the same files every time (no randomness, plain Python, no packages).
"""
import math
import os
import sys

WEIGHTS = [0.0, 0.5, 1.0, 1.5, 2.0]      # vl_weight and exp_weight: 5 levels on [0, 2]
DENSITIES = [0.1, 0.4, 0.7, 1.0]          # density: 4 levels on [0.1, 1]


def branin(x1, x2):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def six_hump_camel(x1, x2):
    return (4 - 2.1 * x1 ** 2 + x1 ** 4 / 3) * x1 ** 2 + x1 * x2 + (-4 + 4 * x2 ** 2) * x2 ** 2


def hartmann3(x):
    alpha = [1.0, 1.2, 3.0, 3.2]
    a = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
    p = [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
    return -sum(alpha[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j] * 1e-4) ** 2 for j in range(3)))
                for i in range(4))


def fmt(x):
    return repr(round(x, 12))


def write(path, provenance, bounds, names, rows):
    with open(path, "w") as f:
        for line in provenance:
            f.write(f"# {line}\n")
        f.write("#@bounds " + " ".join(f"{n}={fmt(lo)}:{fmt(hi)}" for n, (lo, hi) in zip(names, bounds)) + "\n")
        f.write(",".join(names + ["score"]) + "\n")
        for point, score in rows:
            f.write(",".join(fmt(v) for v in point) + "," + fmt(score) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Surrogates")
    os.makedirs(out, exist_ok=True)
    note = "Not a measurement: a stand-in until measured landscapes exist (scripts/make_analytic_landscapes.py)."

    # Each function is mapped affinely to an accuracy-like score (higher is better, within
    # [0, 1]) so that relative regrets in percent read as in the paper; affine maps change
    # neither normalized regret nor RoR.
    rows = [((v, e), 0.8 - branin(-5 + 7.5 * v, 7.5 * e) / 400) for v in WEIGHTS for e in WEIGHTS]
    write(os.path.join(out, "ta_branin_5x5.csv"), [
        "Analytic function Branin sampled on a 5x5 grid; not a measurement.",
        "score = 0.8 - branin(x1, x2)/400 with x1 = -5 + 7.5*vl_weight, x2 = 7.5*exp_weight (Branin's box [-5,10]x[0,15]).",
        "Grid: vl_weight, exp_weight in {0, 0.5, 1, 1.5, 2} (the paper's 5 weight levels; values chosen here).",
        note,
    ], [(0, 2), (0, 2)], ["vl_weight", "exp_weight"], rows)

    rows = [((v, e), 0.8 - (six_hump_camel(-3 + 3 * v, -2 + 2 * e) + 1.0316) / 220) for v in WEIGHTS for e in WEIGHTS]
    write(os.path.join(out, "ta_six_hump_camel_5x5.csv"), [
        "Analytic function six-hump camel sampled on a 5x5 grid; not a measurement.",
        "score = 0.8 - (camel(x1, x2) + 1.0316)/220 with x1 = -3 + 3*vl_weight, x2 = -2 + 2*exp_weight (the box [-3,3]x[-2,2]).",
        "Grid: vl_weight, exp_weight in {0, 0.5, 1, 1.5, 2} (the paper's 5 weight levels; values chosen here).",
        note,
    ], [(0, 2), (0, 2)], ["vl_weight", "exp_weight"], rows)

    rows = [((v, e, d), 0.2 - hartmann3([v / 2, e / 2, d]) / 5) for v in WEIGHTS for e in WEIGHTS for d in DENSITIES]
    write(os.path.join(out, "ties_hartmann3_5x5x4.csv"), [
        "Analytic function Hartmann-3 sampled on a 5x5x4 grid; not a measurement.",
        "score = 0.2 - hartmann3(vl_weight/2, exp_weight/2, density)/5 (Hartmann-3's box [0,1]^3).",
        "Grid: vl_weight, exp_weight in {0, 0.5, 1, 1.5, 2}; density in {0.1, 0.4, 0.7, 1} (5 and 4 levels as in the paper; values chosen here).",
        note,
    ], [(0, 2), (0, 2), (0.1, 1)], ["vl_weight", "exp_weight", "density"], rows)


if __name__ == "__main__":
    main()
