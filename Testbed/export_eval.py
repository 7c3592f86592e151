#!/usr/bin/env python3
"""Exports what the Swift evaluator needs from a trained testbed family, so that `swift test`
and the Swift evaluation never need Python:

  data/<task>.json        the fixed, seeded evaluation pool of each task, split 20% validation /
                          80% test: token ids, answer start, and the image (3 x 35 floats, rounded
                          to 1e-4) of image tasks
  reference/logits.json   PyTorch float32 logits of every model on a few inputs, with the weights
                          read back from the float16 checkpoints (the Swift forward pass must
                          match them to 1e-4), plus the teacher-forced scores of each model on each
                          validation split

    python Testbed/export_eval.py --models Testbed/models --out Testbed
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import load_file

import family as fam

TASKS = ["copy", "add", "copy_w", "sum3", "see", "see_w", "see_sum"]


def load_lm(path: str, vocab: int) -> fam.CausalLM:
    cfg = fam.text_config_for(fam.Config(), vocab)
    m = fam.CausalLM(cfg)
    m.load_state_dict({k: v.float() for k, v in load_file(os.path.join(path, "model.safetensors")).items()})
    return m.eval()


def load_vlm(path: str) -> fam.VLM:
    cfg = fam.text_config_for(fam.Config(), len(fam.VLM_VOCAB))
    m = fam.VLM(cfg)
    m.load_state_dict({k: v.float() for k, v in load_file(os.path.join(path, "model.safetensors")).items()})
    return m.eval()


def rounded(e: fam.Example) -> fam.Example:
    img = None if e.image is None else np.round(e.image, 4).astype(np.float32)
    return fam.Example(e.tokens, e.answer_start, img)


def as_json(e: fam.Example) -> dict:
    d = {"tokens": e.tokens, "answer_start": e.answer_start}
    if e.image is not None:
        d["image"] = [round(float(x), 4) for x in e.image.reshape(-1)]
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "reference"), exist_ok=True)

    splits = {}
    for task in TASKS:
        val, test = fam.eval_split(task)
        val, test = [rounded(e) for e in val], [rounded(e) for e in test]
        splits[task] = (val, test)
        with open(os.path.join(args.out, "data", f"{task}.json"), "w") as f:
            json.dump({"task": task, "validation": [as_json(e) for e in val], "test": [as_json(e) for e in test]},
                      f, separators=(",", ":"))

    models = {
        "base": (load_lm(os.path.join(args.models, "base"), len(fam.BASE_VOCAB)), False),
        "vlm": (load_vlm(os.path.join(args.models, "vlm")), True),
        "expert-language": (load_lm(os.path.join(args.models, "expert-language"), len(fam.BASE_VOCAB)), False),
        "expert-reasoning": (load_lm(os.path.join(args.models, "expert-reasoning"), len(fam.BASE_VOCAB)), False),
    }
    reference = {"vocab": fam.VLM_VOCAB, "models": {}}
    for name, (model, is_vlm) in models.items():
        inputs = [splits["copy"][0][0], splits["add"][0][1], splits["copy_w"][0][2]]
        if is_vlm:
            inputs += [splits["see"][0][0], splits["see_w"][0][1]]
        entries = []
        with torch.no_grad():
            for e in inputs:
                b = fam.collate([e])
                n = len(e.tokens)
                logits = (model(b["ids"], b["images"])[0] if is_vlm else model(b["ids"])[0])[0, :n]
                entries.append({**as_json(e), "logits": [[round(float(x), 6) for x in row] for row in logits]})
        scores = {}
        for task in TASKS:
            if task.startswith("see") and not is_vlm:
                continue
            scores[task] = fam.score(model, splits[task][0], is_vlm)
        reference["models"][name] = {"inputs": entries, "validation_scores": scores}
        print(name, {t: f"{s['exact_match']:.3f}/{s['mean_logprob']:.3f}" for t, s in scores.items()}, flush=True)
    with open(os.path.join(args.out, "reference", "logits.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
