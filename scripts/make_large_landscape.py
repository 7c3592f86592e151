#!/usr/bin/env python3
"""Writes a large synthetic landscape for the surrogate benchmark (Benchmarks/surrogate.md):
N uniformly random points in [0, 2]^2 x [0.1, 1] (vl_weight, exp_weight, density) with a smooth
accuracy-like score. Not a measurement; the file says so.

Usage: python3 scripts/make_large_landscape.py N OUTPUT.csv [SEED]   (plain Python, deterministic)
"""
import math
import random
import sys


def score(v, e, d):
    return (0.5 + 0.25 * math.exp(-((v - 1.1) ** 2 + (e - 0.6) ** 2)) - 0.04 * (v + e - 1.5) ** 2
            + 0.02 * math.sin(3 * v) + 0.05 * (d - 0.5) * (1.2 - v))


def main():
    n, path = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    with open(path, "w") as out:
        out.write(f"# Synthetic benchmark landscape: {n} random points, smooth score (not a measurement)\n")
        out.write("#@bounds vl_weight=0:2 exp_weight=0:2 density=0.1:1\n")
        out.write("vl_weight,exp_weight,density,score\n")
        for _ in range(n):
            v, e, d = rng.uniform(0, 2), rng.uniform(0, 2), rng.uniform(0.1, 1)
            out.write(f"{v:.6f},{e:.6f},{d:.6f},{score(v, e, d):.6f}\n")


if __name__ == "__main__":
    main()
