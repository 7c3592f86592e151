#!/usr/bin/env python3
"""Cross-check mergetune's merges against mergekit (PyPI) on small generated checkpoints.

Generates a tiny fp32 LLaMA-layout triple (base, VLM, expert), a LLaVA-style wrapped copy
of the VLM (sharded, with an index, extra vocabulary rows, a vision tower and a projector),
runs mergekit for task_arithmetic, ties (normalize on and off, and on an expert a few ulps
from the base, where magnitudes tie at the top-k threshold) and linear, and writes
everything as test fixtures into Tests/FusionTests/Fixtures/mergekit/ so `swift test`
compares against mergekit without Python.

With --compare BIN it also runs `BIN merge` (the mergetune binary) on the same inputs and
prints the largest absolute difference per case. For TIES the positions where the top-k
choice is not unique (|τ| tied at the k-th largest magnitude, more tied entries than
admitted) are excluded: mergetune keeps the earliest tied entries, torch's argsort an
unspecified subset. Everywhere else the outputs must agree.

Usage:  .venv/bin/python scripts/crosscheck_mergekit.py [--compare .build/debug/mergetune]
Needs:  pip install mergekit (pulls torch), numpy, safetensors.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file, load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "FusionTests", "Fixtures", "mergekit")

HIDDEN, INTER, LAYERS, VOCAB, HEADS, KV_HEADS = 16, 32, 2, 32, 2, 1
HEAD_DIM = HIDDEN // HEADS
EXTRA_VOCAB = 4  # VLM adds image tokens

CASES = [
    # name, mergekit method, per-model parameters (vlm, expert), global parameters, expert model
    ("task_arithmetic", "task_arithmetic", {"weight": (0.7, 0.5)}, {}, "expert"),
    ("ties", "ties", {"weight": (0.6, 0.8), "density": (0.4, 0.4)}, {}, "expert"),
    ("ties_nonorm", "ties", {"weight": (0.6, 0.8), "density": (0.4, 0.4)}, {"normalize": False}, "expert"),
    ("linear", "linear", {"weight": (0.3, 0.7)}, {}, "expert"),
    # An expert a few ulps from the base: |τ_R| ties at TIES' threshold in every tensor.
    ("ties_ulp", "ties", {"weight": (0.6, 0.8), "density": (0.4, 0.4)}, {}, "expert_ulp"),
]


def tied_positions(base, vlm, expert, density):
    """Entries where TIES' choice is not unique: |τ| equals the k-th largest magnitude of
    the VLM's or the expert's task vector while more entries than admitted share it.
    mergetune keeps the earliest tied entries (stable order); torch's argsort keeps an
    unspecified subset, so outputs may differ there and only there."""
    n = base.size
    k = max(1, int(density * n))
    tied = np.zeros(n, dtype=bool)
    for theta in (vlm, expert):
        a = np.abs(theta.astype(np.float32).reshape(-1) - base.astype(np.float32).reshape(-1))
        thr = np.sort(a)[::-1][k - 1]
        above = int(np.sum(a > thr))
        at = a == thr
        if above + int(np.sum(at)) > k:
            tied |= at
    return tied


def llama_shapes():
    s = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        s[p + "self_attn.q_proj.weight"] = (HEADS * HEAD_DIM, HIDDEN)
        s[p + "self_attn.k_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        s[p + "self_attn.v_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        s[p + "self_attn.o_proj.weight"] = (HIDDEN, HEADS * HEAD_DIM)
        s[p + "mlp.gate_proj.weight"] = (INTER, HIDDEN)
        s[p + "mlp.up_proj.weight"] = (INTER, HIDDEN)
        s[p + "mlp.down_proj.weight"] = (HIDDEN, INTER)
        s[p + "input_layernorm.weight"] = (HIDDEN,)
        s[p + "post_attention_layernorm.weight"] = (HIDDEN,)
    s["model.norm.weight"] = (HIDDEN,)
    s["lm_head.weight"] = (VOCAB, HIDDEN)
    return s


def llama_config(vocab=VOCAB):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "vocab_size": vocab, "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "float32",
    }


def write_model(path, tensors, config):
    os.makedirs(path, exist_ok=True)
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def generate(workdir):
    rng = np.random.default_rng(20251123)
    shapes = llama_shapes()
    base = {n: rng.standard_normal(s).astype(np.float32) * 0.1 for n, s in shapes.items()}
    vlm = {n: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.02) for n, v in base.items()}
    expert = {n: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.03) for n, v in base.items()}
    for name, t in (("base", base), ("vlm", vlm), ("expert", expert)):
        write_model(os.path.join(workdir, name), t, llama_config())
    # Its own generator, so the other fixtures keep their values: 60% of the entries one or
    # two ulps from the base (ties), the rest ordinary noise.
    urng = np.random.default_rng(20261201)
    ulp = {}
    for n, b in base.items():
        steps = urng.integers(1, 3, size=b.shape)
        sign = np.where(urng.random(b.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
        near = b.copy()
        for _ in range(2):
            near = np.where(steps > 0, np.nextafter(near, sign), near).astype(np.float32)
            steps = steps - 1
        noisy = b + urng.standard_normal(b.shape).astype(np.float32) * 0.03
        ulp[n] = np.where(urng.random(b.shape) < 0.6, near, noisy).astype(np.float32)
    write_model(os.path.join(workdir, "expert_ulp"), ulp, llama_config())

    # LLaVA-style VLM: language_model.model.* / language_model.lm_head, vision tower and
    # projector, 4 extra vocabulary rows, stored as two shards with an index.
    wrapped = {}
    for n, v in vlm.items():
        if n in ("model.embed_tokens.weight", "lm_head.weight"):
            v = np.concatenate([v, rng.standard_normal((EXTRA_VOCAB, HIDDEN)).astype(np.float32)], axis=0)
        wrapped["language_model." + n] = v
    wrapped["vision_tower.vision_model.embeddings.patch_embedding.weight"] = rng.standard_normal((8, 3, 2, 2)).astype(np.float32)
    wrapped["vision_tower.vision_model.post_layernorm.weight"] = rng.standard_normal((8,)).astype(np.float32)
    wrapped["multi_modal_projector.linear_1.weight"] = rng.standard_normal((HIDDEN, 8)).astype(np.float32)
    wrapped["multi_modal_projector.linear_1.bias"] = rng.standard_normal((HIDDEN,)).astype(np.float32)
    wdir = os.path.join(workdir, "vlm_wrapped")
    os.makedirs(wdir, exist_ok=True)
    names = sorted(wrapped)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for shard, ns in shards.items():
        save_file({n: wrapped[n] for n in ns}, os.path.join(wdir, shard), metadata={"format": "pt"})
        weight_map.update({n: shard for n in ns})
    total = sum(v.nbytes for v in wrapped.values())
    with open(os.path.join(wdir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    cfg = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
           "text_config": llama_config(VOCAB + EXTRA_VOCAB), "image_token_index": VOCAB}
    with open(os.path.join(wdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(wdir, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 64}, f)
    with open(os.path.join(wdir, "generation_config.json"), "w") as f:
        json.dump({"max_new_tokens": 8}, f)


def run_mergekit(workdir, case):
    name, method, per_model, global_params, expert = case
    models = []
    for i, model in enumerate(("vlm", expert)):
        params = {k: v[i] for k, v in per_model.items()}
        models.append({"model": os.path.join(workdir, model), "parameters": params})
    cfg = {"merge_method": method, "models": models, "dtype": "float32"}
    if method != "linear":
        cfg["base_model"] = os.path.join(workdir, "base")
    if global_params:
        cfg["parameters"] = global_params
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge
    out = os.path.join(workdir, "out_" + name)
    run_merge(MergeConfiguration.model_validate(cfg), out, MergeOptions(copy_tokenizer=False, lazy_unpickle=False))
    merged = {}
    for f in sorted(os.listdir(out)):
        if f.endswith(".safetensors"):
            merged.update(load_file(os.path.join(out, f)))
    return merged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", help="mergetune binary to compare against mergekit")
    ap.add_argument("--no-write", action="store_true", help="do not overwrite the committed fixtures")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="mergetune-xcheck-")
    generate(work)
    results = {}
    for case in CASES:
        results[case[0]] = run_mergekit(work, case)
    if not args.no_write:
        shutil.rmtree(FIXTURES, ignore_errors=True)
        os.makedirs(FIXTURES)
        for d in ("base", "vlm", "expert", "expert_ulp", "vlm_wrapped"):
            shutil.copytree(os.path.join(work, d), os.path.join(FIXTURES, d))
        for name, merged in results.items():
            save_file(merged, os.path.join(FIXTURES, f"mergekit_{name}.safetensors"), metadata={"format": "pt"})
        cases = [{"name": c[0], "method": c[1], "vl_weight": c[2]["weight"][0], "exp_weight": c[2]["weight"][1],
                  "density": c[2].get("density", (1.0, 1.0))[0], **({"normalize": c[3]["normalize"]} if "normalize" in c[3] else {}),
                  "expert": c[4]}
                 for c in CASES]
        with open(os.path.join(FIXTURES, "cases.json"), "w") as f:
            json.dump({"mergekit_version": __import__("importlib.metadata").metadata.version("mergekit"), "cases": cases}, f, indent=1)
        print("fixtures written to", FIXTURES)
    if args.compare:
        worst = 0.0
        base_t = load_file(os.path.join(work, "base", "model.safetensors"))
        vlm_t = load_file(os.path.join(work, "vlm", "model.safetensors"))
        for case in CASES:
            name, method, per_model, gp, expert = case
            expert_t = load_file(os.path.join(work, expert, "model.safetensors"))
            for vlm_dir in ("vlm", "vlm_wrapped"):
                out = os.path.join(work, f"mt_{name}_{vlm_dir}")
                cmd = [args.compare, "merge", "--base", os.path.join(work, "base"), "--vlm", os.path.join(work, vlm_dir),
                       "--expert", os.path.join(work, expert), "--method", method,
                       "--vl-weight", str(per_model["weight"][0]), "--exp-weight", str(per_model["weight"][1]), "-o", out]
                if "density" in per_model:
                    cmd += ["--density", str(per_model["density"][0])]
                if gp.get("normalize") is False:
                    cmd += ["--no-normalize"]
                subprocess.run(cmd, check=True, capture_output=True)
                ours = {}
                for f in sorted(os.listdir(out)):
                    if f.endswith(".safetensors"):
                        ours.update(load_file(os.path.join(out, f)))
                diff = 0.0
                tolerated = 0
                differ_tied = 0
                for n, ref in results[name].items():
                    key = n if vlm_dir == "vlm" else ("language_model." + n)
                    got = ours[key][: ref.shape[0]] if ours[key].shape != ref.shape else ours[key]
                    d = np.abs(got.astype(np.float64) - ref.astype(np.float64)).reshape(-1)
                    if method == "ties":
                        # Only the tied positions may differ (torch's tie order is unspecified).
                        tied = tied_positions(base_t[n], vlm_t[n], expert_t[n], per_model["density"][0])
                        tolerated += int(tied.sum())
                        differ_tied += int(np.sum(d[tied] > 0))
                        d = d[~tied]
                    if d.size:
                        diff = max(diff, float(np.max(d)))
                worst = max(worst, diff)
                extra = f"  (tied positions excluded: {tolerated}, of which differ: {differ_tied})" if method == "ties" else ""
                print(f"{name:16s} vlm={vlm_dir:12s} max |mergetune - mergekit| = {diff:.3g}{extra}")
        print(f"worst: {worst:.3g}")
        sys.exit(0 if worst < 1e-5 else 1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
