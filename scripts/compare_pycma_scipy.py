#!/usr/bin/env python3
"""pycma's CMA-ES and scipy's Powell under mergetune's multi-start protocol.

Same test functions, budgets (N = 40 in 2-D, 60 in 3-D), seeds (1..10) and normalized regret
as `mergetune-bench optimizers`: each run starts at a uniform random point of the unit box,
runs the library's optimizer until it stops by its own rule or spends its local budget, then
restarts from a new uniform random point (pycma: IPOP, population doubled at each restart),
and is cut off after exactly N evaluations.

Setup (the venv is git-ignored):
    python3 -m venv --system-site-packages .venv && .venv/bin/pip install cma
    .venv/bin/python scripts/compare_pycma_scipy.py   # writes Benchmarks/pycma-scipy-comparison.md

The mergetune column is read from Benchmarks/optimizers-test-functions.csv (run the bench first).
"""
import csv
import math
import os
import sys
import warnings

import numpy as np
from scipy.optimize import minimize

warnings.filterwarnings("ignore")
import cma  # noqa: E402


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def camel(x):
    x1, x2 = x
    return (4 - 2.1 * x1 ** 2 + x1 ** 4 / 3) * x1 ** 2 + x1 * x2 + (-4 + 4 * x2 ** 2) * x2 ** 2


H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
H_A = np.array([[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]])
H_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])


def hartmann3(x):
    x = np.asarray(x)
    return -float(np.sum(H_ALPHA * np.exp(-np.sum(H_A * (x - H_P) ** 2, axis=1))))


FUNCTIONS = [  # name, f, lower, upper, published minimum, budget
    ("branin", branin, [-5, 0], [10, 15], 0.397887357729738, 40),
    ("six_hump_camel", camel, [-3, -2], [3, 2], -1.031628453489877, 40),
    ("hartmann3", hartmann3, [0, 0, 0], [1, 1, 1], -3.86278214782076, 60),
]


def box_max(f, lo, hi):
    d = len(lo)
    steps = 400 if d == 2 else 80
    axes = [np.linspace(0, 1, steps + 1)] * d
    best = -math.inf
    for u in np.array(np.meshgrid(*axes, indexing="ij")).reshape(d, -1).T:
        best = max(best, f(np.asarray(lo) + u * (np.asarray(hi) - np.asarray(lo))))
    return best


class BudgetSpent(Exception):
    pass


class LocalSpent(Exception):
    pass


class Counter:
    """Exact budget N overall, and an optional local budget per local run."""

    def __init__(self, f, lo, hi, budget):
        self.f, self.lo, self.hi, self.budget = f, np.asarray(lo, float), np.asarray(hi, float), budget
        self.used, self.best, self.local_used, self.local_limit, self.runs = 0, math.inf, 0, None, 0

    def start_local(self, limit):
        self.local_used, self.local_limit, self.runs = 0, limit, self.runs + 1

    def __call__(self, u):
        if self.used >= self.budget:
            raise BudgetSpent
        if self.local_limit is not None and self.local_used >= self.local_limit:
            raise LocalSpent
        u = np.clip(np.asarray(u, float), 0, 1)
        v = self.f(self.lo + u * (self.hi - self.lo))
        self.used += 1
        self.local_used += 1
        self.best = min(self.best, v)
        return v


def run_cma(counter, rng, seed, local, tolx=None):
    restart = 0
    while True:
        x0 = rng.uniform(size=len(counter.lo))
        counter.start_local(local)
        opts = {"bounds": [0, 1], "seed": seed * 1000 + restart + 1, "verbose": -9}
        if restart:
            opts["popsize"] = (4 + int(3 * math.log(len(x0)))) * 2 ** restart  # IPOP
        if tolx is not None:
            opts["tolx"] = tolx
        es = cma.CMAEvolutionStrategy(x0, 0.25, opts)
        try:
            while not es.stop():
                xs = es.ask()
                es.tell(xs, [counter(x) for x in xs])
        except LocalSpent:
            pass
        restart += 1


def run_powell(counter, rng, seed, local, xtol=None):
    while True:
        x0 = rng.uniform(size=len(counter.lo))
        counter.start_local(local)
        options = {}
        if xtol is not None:
            options["xtol"] = xtol
        try:
            minimize(counter, x0, method="Powell", bounds=[(0, 1)] * len(x0), options=options)
        except LocalSpent:
            pass


SETTINGS = [  # label, runner, local fraction (None = restart on convergence only), tolerance
    ("pycma, defaults, restart on convergence", run_cma, None, None),
    ("pycma, local_budget=N/2", run_cma, 0.5, None),
    ("pycma, local_budget=N/4", run_cma, 0.25, None),
    ("pycma, tolx=1e-3 (mergetune's), restart on convergence", run_cma, None, 1e-3),
    ("scipy Powell, defaults, restart on convergence", run_powell, None, None),
    ("scipy Powell, local_budget=N/2", run_powell, 0.5, None),
    ("scipy Powell, local_budget=N/4", run_powell, 0.25, None),
    ("scipy Powell, xtol=1e-3 (mergetune's), restart on convergence", run_powell, None, 1e-3),
]

MERGETUNE = {  # label in the bench CSV for the matching mergetune row
    "pycma, defaults, restart on convergence": "cmaes",
    "pycma, local_budget=N/2": "cmaes local_budget=N/2",
    "pycma, local_budget=N/4": "cmaes local_budget=N/4",
    "pycma, tolx=1e-3 (mergetune's), restart on convergence": "cmaes",
    "scipy Powell, defaults, restart on convergence": "powell line_tolerance=1e-4 ftol=1e-4, none",
    "scipy Powell, local_budget=N/2": "powell local_budget=N/2",
    "scipy Powell, local_budget=N/4": "powell local_budget=N/4",
    "scipy Powell, xtol=1e-3 (mergetune's), restart on convergence": "powell",
}


def main():
    seeds = range(1, 11)
    ours = {}
    path = "Benchmarks/optimizers-test-functions.csv"
    if os.path.exists(path):
        with open(path) as fh:
            for row in csv.DictReader(fh):
                ours.setdefault((row["optimizer"], row["function"]), []).append(float(row["final_regret"]))
    ranges = {name: (fmin, box_max(f, lo, hi)) for name, f, lo, hi, fmin, _ in FUNCTIONS}
    lines = []
    for label, runner, fraction, tol in SETTINGS:
        cells, runs_cells = [], []
        for name, f, lo, hi, fmin, budget in FUNCTIONS:
            regrets, runs = [], []
            for seed in seeds:
                counter = Counter(f, lo, hi, budget)
                rng = np.random.default_rng(seed)
                local = None if fraction is None else max(2, math.ceil(fraction * budget))
                try:
                    runner(counter, rng, seed, local, tol)
                except BudgetSpent:
                    pass
                lo_, hi_ = ranges[name]
                regrets.append((counter.best - lo_) / (hi_ - lo_))
                runs.append(counter.runs)
            theirs = float(np.median(regrets))
            mine = ours.get((MERGETUNE[label], name))
            mine_s = f"{np.median(mine):.2e}" if mine else "n/a"
            cells.append(f"{theirs:.2e} / {mine_s}")
            runs_cells.append(f"{np.mean(runs):.1f}")
        line = f"| {label} | " + " | ".join(cells) + " | " + " | ".join(runs_cells) + " |"
        print(line, flush=True)
        lines.append(line)
    header = ("| setting | branin (N=40) | six_hump_camel (N=40) | hartmann3 (N=60) "
              "| local runs: branin | camel | hartmann3 |\n|---|---|---|---|---|---|---|")
    md = f"""# pycma and scipy Powell under the same protocol

Command: `.venv/bin/python scripts/compare_pycma_scipy.py` (pycma {cma.__version__}, scipy
{__import__('scipy').__version__}, numpy {np.__version__}); seeds 1..10; the random start points
come from numpy's generator, so runs are comparable in distribution, not point by point.
Each cell: median final normalized regret, **library / mergetune** (mergetune's matching row of
Benchmarks/optimizers-test-functions.csv: `cmaes`, `cmaes local_budget=N/2`, ...; the scipy
defaults row is compared with mergetune's Powell at scipy's tolerances, line_tolerance = ftol =
1e-4). Local runs: mean number of local runs the library began per run (1 = no restart).

{header}
""" + "\n".join(lines) + "\n"
    os.makedirs("Benchmarks", exist_ok=True)
    with open("Benchmarks/pycma-scipy-comparison.md", "w") as fh:
        fh.write(md)
    print("wrote Benchmarks/pycma-scipy-comparison.md")


if __name__ == "__main__":
    sys.exit(main())
