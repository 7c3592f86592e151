#!/usr/bin/env python3
"""Trains mergetune's testbed family on CPU: a base LM, a VLM fine-tuned from it, and two
expert LLMs fine-tuned from it (language: answers in w0-w9 when tagged; reasoning: sums three
digits), and writes them as Hugging Face checkpoints (float16 safetensors + config.json).

    python Testbed/train.py --out Testbed/models            # the whole family (minutes on 2 cores)
    python Testbed/train.py --out /tmp/tb --explore          # also print a task-arithmetic grid

Seeded and deterministic for a given thread count (torch.set_num_threads).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from safetensors.torch import save_file

import family as fam

STAGES = {
    # stage: (task mixture, steps, decoder learning rate, L2 pull toward the base)
    "base": ({"copy": 0.6, "add": 0.4}, 800, 3e-3, 0.0),
    "vlm": ({"see": 0.8, "copy": 0.1, "add": 0.1}, 600, 3e-4, 1e-2),
    "language": ({"copy_w": 0.6, "copy": 0.2, "add": 0.2}, 300, 3e-4, 1e-2),
    "reasoning": ({"sum3": 0.6, "copy": 0.2, "add": 0.2}, 600, 3e-4, 1e-2),
}
BATCH = 128


def batches(mixture: dict[str, float], rng: np.random.Generator):
    tasks, probs = list(mixture), np.array(list(mixture.values()))
    while True:
        picks = rng.choice(len(tasks), size=BATCH, p=probs / probs.sum())
        yield fam.collate([fam.make_example(tasks[i], rng) for i in picks])


def l2_pull(model: torch.nn.Module, anchor: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
    """Σ‖θ − θ_0‖² over the decoder's parameters: keeps task vectors small, as short real
    fine-tunes do. Rows the anchor lacks (the VLM's extra <img> row) are not pulled."""
    total = torch.zeros(())
    for name, p in model.named_parameters():
        key = name[len(prefix):] if name.startswith(prefix) else None
        if key is None or key not in anchor:
            continue
        a = anchor[key]
        total = total + ((p[: a.shape[0]] - a) ** 2).sum()
    return total


def train_stage(name: str, model, anchor, seed: int, is_vlm: bool, log) -> None:
    mixture, steps, lr, pull = STAGES[name]
    rng = np.random.default_rng([seed, fam.hash_task(name)])
    torch.manual_seed(seed * 1000 + fam.hash_task(name) % 1000)
    if is_vlm:
        # The new vision tower and projector learn fast; the decoder moves slowly.
        fresh = list(model.vision_tower.parameters()) + list(model.multi_modal_projector.parameters())
        groups = [{"params": fresh, "lr": 3e-3}, {"params": model.language_model.parameters(), "lr": lr}]
        prefix = "language_model."
    else:
        groups = [{"params": model.parameters(), "lr": lr}]
        prefix = ""
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    warm = steps // 10
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + np.cos(np.pi * s / steps)))
    it = batches(mixture, rng)
    t0 = time.time()
    for step in range(steps):
        b = next(it)
        logits = model(b["ids"], b["images"])[0] if is_vlm else model(b["ids"])[0]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["targets"].reshape(-1))
        total = loss + (pull * l2_pull(model, anchor, prefix) if anchor is not None and pull > 0 else 0)
        opt.zero_grad()
        total.backward()
        opt.step()
        sched.step()
        if step % max(1, steps // 6) == 0 or step == steps - 1:
            log(f"  {name} step {step:5d} loss {loss.item():.4f} ({time.time() - t0:.0f}s)")


def decoder_state(model) -> dict[str, torch.Tensor]:
    """HF names of a CausalLM's tensors."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def save_checkpoint(path: str, tensors: dict[str, torch.Tensor], config: dict, meta: dict) -> None:
    os.makedirs(path, exist_ok=True)
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in tensors.items()}
    save_file(half, os.path.join(path, "model.safetensors"), metadata={"format": "pt", **meta})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        json.dump({"vocab": fam.VLM_VOCAB if "vision_config" in config else fam.BASE_VOCAB}, f)


def rel_norm(a: dict, b: dict, keys) -> float:
    num = sum(((a[k][: b[k].shape[0]] - b[k]) ** 2).sum().item() for k in keys)
    den = sum((b[k] ** 2).sum().item() for k in keys)
    return (num / den) ** 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--explore", action="store_true", help="print a task-arithmetic grid of the targets")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    log = lambda s: print(s, flush=True)

    cfg = fam.Config()
    torch.manual_seed(args.seed)
    base = fam.CausalLM(cfg)
    log("base")
    train_stage("base", base, None, args.seed, False, log)
    theta0 = decoder_state(base)

    # VLM: the base's decoder with one more vocabulary row (<img>), plus vision tower and projector.
    vcfg = fam.text_config_for(cfg, len(fam.VLM_VOCAB))
    vlm = fam.VLM(vcfg)
    with torch.no_grad():
        sd = vlm.language_model.state_dict()
        for k, v in theta0.items():
            if sd[k].shape == v.shape:
                sd[k].copy_(v)
            else:  # embed / lm_head: base rows, and the <img> row from the mean embedding
                sd[k][: v.shape[0]].copy_(v)
                sd[k][v.shape[0]:].copy_(v.mean(0, keepdim=True))
        vlm.language_model.load_state_dict(sd)
    log("vlm")
    train_stage("vlm", vlm, theta0, args.seed, True, log)

    experts = {}
    for name in ("language", "reasoning"):
        m = fam.CausalLM(cfg)
        m.load_state_dict(theta0)
        log(name)
        train_stage(name, m, theta0, args.seed, False, log)
        experts[name] = m

    keys = [k for k in theta0]
    vsd = decoder_state(vlm.language_model)
    log(f"‖τ_V‖/‖θ0‖ = {rel_norm(vsd, theta0, keys):.3f}")
    for name, m in experts.items():
        log(f"‖τ_{name}‖/‖θ0‖ = {rel_norm(decoder_state(m), theta0, keys):.3f}")

    meta = {"testbed_seed": str(args.seed)}
    save_checkpoint(os.path.join(args.out, "base"), theta0, cfg.hf_text_config(), meta)
    for name, m in experts.items():
        save_checkpoint(os.path.join(args.out, f"expert-{name}"), decoder_state(m), cfg.hf_text_config(), meta)
    vlm_tensors = {f"language_model.{k}": v for k, v in vsd.items()}
    vlm_tensors.update({f"vision_tower.{k}": v for k, v in vlm.vision_tower.state_dict().items()})
    vlm_tensors.update({f"multi_modal_projector.{k}": v for k, v in vlm.multi_modal_projector.state_dict().items()})
    vlm_config = {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "image_token_index": fam.IMG,
        "text_config": vcfg.hf_text_config(),
        "vision_config": {"model_type": "glyph_mlp", "patch_size": fam.PATCH, "hidden_size": cfg.vision_hidden,
                          "num_patches": fam.N_DIGITS_IN_IMAGE},
        "projector_hidden_act": "gelu",
        "torch_dtype": "float16",
    }
    save_checkpoint(os.path.join(args.out, "vlm"), vlm_tensors, vlm_config, meta)

    # Parents on every task (validation split).
    tasks = ["copy", "add", "copy_w", "sum3", "see", "see_w", "see_sum"]
    log("parents (validation): exact match / mean log-prob")
    for name, model, is_vlm in [("base", base, False), ("vlm", vlm, True)] + [(n, m, False) for n, m in experts.items()]:
        cells = []
        for t in tasks:
            if t.startswith("see") and not is_vlm:
                cells.append(f"{t}=  -   ")
                continue
            s = fam.score(model, fam.eval_split(t)[0], is_vlm)
            cells.append(f"{t}={s['exact_match']:.2f}/{s['mean_logprob']:.2f}")
        log(f"  {name:10s} " + " ".join(cells))

    if args.explore:
        explore(vlm, theta0, experts, vcfg, log)


def explore(vlm, theta0, experts, vcfg, log) -> None:
    """Task arithmetic θ0 + λ_V τ_V + λ_R τ_R on a coarse grid, scored on each target."""
    vsd = decoder_state(vlm.language_model)
    grid = [0.0, 0.5, 1.0, 1.5, 2.0]
    for name, target, skill in [("language", "see_w", "copy_w"), ("reasoning", "see_sum", "sum3")]:
        esd = decoder_state(experts[name])
        val = fam.eval_split(target)[0]
        val_skill, val_see = fam.eval_split(skill)[0], fam.eval_split("see")[0]
        log(f"{name}: target {target}, rows λ_V, columns λ_R; cells exact/logprob | perception | skill")
        merged = fam.VLM(vcfg)
        merged.load_state_dict(vlm.state_dict())
        for lv in grid:
            row = []
            for lr in grid:
                merged.language_model.load_state_dict(fam.task_arithmetic(vsd, theta0, esd, lv, lr))
                s = fam.score(merged, val, True)
                p = fam.score(merged, val_see, True)["mean_logprob"]
                k_ = fam.score(merged.language_model, val_skill, False)["mean_logprob"]
                row.append(f"{s['exact_match']:.2f}/{s['mean_logprob']:6.2f}|{p:5.2f}|{k_:5.2f}")
            log(f"  λ_V={lv:.1f}  " + "  ".join(row))


if __name__ == "__main__":
    main()
