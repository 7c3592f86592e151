#!/usr/bin/env python3
"""PyTorch's own timing of the testbed workload that `mergetune-bench testbed` measures:
task-arithmetic merge of the VLM's language model (state-dict arithmetic + load_state_dict),
then family.score on validation splits, for each scenario.

    /work/venv-testbed/bin/python Benchmarks/testbed_torch.py --runs 100 --threads 1
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Testbed"))
import family as fam  # noqa: E402
from export_eval import load_lm, load_vlm  # noqa: E402

TB = os.path.join(HERE, "..", "Testbed")


def split(task):
    d = json.load(open(os.path.join(TB, "data", f"{task}.json")))["validation"]
    return [fam.Example(e["tokens"], e["answer_start"],
                        None if "image" not in e else np.array(e["image"], dtype=np.float32).reshape(3, 35)) for e in d]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = load_lm(os.path.join(TB, "models", "base"), len(fam.BASE_VOCAB))
    vlm = load_vlm(os.path.join(TB, "models", "vlm"))
    theta0 = base.state_dict()
    vsd = {k: v.clone() for k, v in vlm.language_model.state_dict().items()}
    see = split("see")
    print("scenario,workload,runs,seconds,evals_per_s,ms_per_eval")
    for scen, target, skill in [("language", "see_w", "copy_w"), ("reasoning", "see_sum", "sum3")]:
        esd = load_lm(os.path.join(TB, "models", f"expert-{scen}"), len(fam.BASE_VOCAB)).state_dict()
        tgt, sk = split(target), split(skill)
        for workload in ("full(300 ex)", "target(100 ex)"):
            start = time.perf_counter()
            for i in range(args.runs):
                lv, lr = 2 * (i % 5) / 4, 2 * ((i // 5) % 5) / 4
                vlm.language_model.load_state_dict(fam.task_arithmetic(vsd, theta0, esd, lv, lr))
                fam.score(vlm, tgt, True)
                if workload.startswith("full"):
                    fam.score(vlm, see, True)
                    fam.score(vlm.language_model, sk, False)
            dt = time.perf_counter() - start
            print(f"{scen},{workload},{args.runs},{dt:.3f},{args.runs / dt:.1f},{dt / args.runs * 1e3:.2f}", flush=True)


if __name__ == "__main__":
    main()
