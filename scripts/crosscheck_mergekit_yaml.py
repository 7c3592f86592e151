#!/usr/bin/env python3
"""Cross-check `mergetune merge --config` against mergekit on per-layer weights (gradients).

Generates a tiny fp32 LLaMA-layout triple with 5 decoder layers (so gradients interpolate
between anchors), runs mergekit 0.1.5 on the YAML configs in Tests/MergekitTests/Fixtures
(ta_gradient.yml, ties_gradient.yml, linear_gradient.yml) from that folder, and writes the triple and mergekit's
outputs there (mergekit_<name>.safetensors); MergekitTests compares mergetune's merge of the
same YAML with them. It also records mergekit's own gradient values (config.evaluate_setting
at t = i/(L-1)) in gradients.json, and checks that mergekit loads every config there,
including the one mergetune renders (rendered_dare_ties.yml) and the role hints.

Usage:  python scripts/crosscheck_mergekit_yaml.py     (needs mergekit 0.1.5, numpy, safetensors)
"""
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import yaml
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "MergekitTests", "Fixtures")

spec = importlib.util.spec_from_file_location("xc", os.path.join(ROOT, "scripts", "crosscheck_mergekit.py"))
xc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(xc)
xc.LAYERS = 5  # llama_shapes/llama_config read it at call time


def main():
    rng = np.random.default_rng(20261202)
    shapes = xc.llama_shapes()
    base = {n: rng.standard_normal(s).astype(np.float32) * 0.1 for n, s in shapes.items()}
    vlm = {n: v + rng.standard_normal(v.shape).astype(np.float32) * 0.02 for n, v in base.items()}
    expert = {n: v + rng.standard_normal(v.shape).astype(np.float32) * 0.03 for n, v in base.items()}
    for name, t in (("base", base), ("vlm", vlm), ("expert", expert)):
        shutil.rmtree(os.path.join(FIXTURES, name), ignore_errors=True)
        xc.write_model(os.path.join(FIXTURES, name), t, xc.llama_config())

    from mergekit.config import MergeConfiguration, evaluate_setting
    from mergekit.merge import MergeOptions, run_merge
    os.chdir(FIXTURES)  # the configs name the models by relative paths
    for name in ("ta_gradient", "ties_gradient", "linear_gradient"):
        with open(f"{name}.yml") as f:
            cfg = MergeConfiguration.model_validate(yaml.safe_load(f))
        out = tempfile.mkdtemp(prefix="mergetune-mk-")
        run_merge(cfg, out, MergeOptions(copy_tokenizer=False, lazy_unpickle=False, write_model_card=False))
        merged = {}
        for f in sorted(os.listdir(out)):
            if f.endswith(".safetensors"):
                merged.update(load_file(os.path.join(out, f)))
        save_file(merged, f"mergekit_{name}.safetensors", metadata={"format": "pt"})
        shutil.rmtree(out)
        print("mergekit merged", name)

    grads = []
    for g in ([0.2, 1.0, 0.4], [1, 0], [0.9, 0.3, 0.6, 1.2], [0.1, 0.7, 0.3, 0.9, 0.5, 0.2, 0.8], [0.5]):
        for L in (1, 2, 5, 7, 48, 49, 50):
            t = [i / (L - 1) if L > 1 else 1 for i in range(L)]
            vals = [evaluate_setting("", g, ti, validate=float) for ti in t]
            grads.append({"gradient": g, "layers": L, "values": vals})
    with open("gradients.json", "w") as f:
        json.dump({"mergekit_version": __import__("importlib.metadata").metadata.version("mergekit"), "cases": grads}, f, indent=1)

    for f in sorted(os.listdir(".")):
        if f.endswith(".yml"):  # mergetune's extra keys (mergetune_role, mergetune:) are ignored by mergekit
            with open(f) as fh:
                MergeConfiguration.model_validate(yaml.safe_load(fh))
            print("mergekit loads", f)


if __name__ == "__main__":
    sys.exit(main())
