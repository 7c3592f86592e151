#!/usr/bin/env python3
"""Generate a synthetic bf16 LLaMA-layout checkpoint triple (base, vlm, expert) for the
merge benchmark. Not committed: it is gigabytes. Sharded like HF (2 GB shards + index).

  python3 Benchmarks/gen_triple.py --preset 1b --out /tmp/mt-bench
Presets: 1b = TinyLlama-1.1B dimensions (1.10 B parameters), 300m, tiny.
Only numpy is needed; bf16 is written as the upper half of float32 (truncation is fine here).
"""
import argparse
import json
import os

import numpy as np

PRESETS = {
    "1b": dict(hidden=2048, inter=5632, layers=22, vocab=32000, heads=32, kv=4),
    "300m": dict(hidden=1024, inter=2816, layers=24, vocab=32000, heads=16, kv=4),
    "tiny": dict(hidden=64, inter=128, layers=2, vocab=256, heads=4, kv=2),
}


def shapes(c):
    hd = c["hidden"] // c["heads"]
    s = [("model.embed_tokens.weight", (c["vocab"], c["hidden"]))]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        s += [(p + "self_attn.q_proj.weight", (c["heads"] * hd, c["hidden"])),
              (p + "self_attn.k_proj.weight", (c["kv"] * hd, c["hidden"])),
              (p + "self_attn.v_proj.weight", (c["kv"] * hd, c["hidden"])),
              (p + "self_attn.o_proj.weight", (c["hidden"], c["heads"] * hd)),
              (p + "mlp.gate_proj.weight", (c["inter"], c["hidden"])),
              (p + "mlp.up_proj.weight", (c["inter"], c["hidden"])),
              (p + "mlp.down_proj.weight", (c["hidden"], c["inter"])),
              (p + "input_layernorm.weight", (c["hidden"],)),
              (p + "post_attention_layernorm.weight", (c["hidden"],))]
    s += [("model.norm.weight", (c["hidden"],)), ("lm_head.weight", (c["vocab"], c["hidden"]))]
    return s


def config(c):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c["hidden"],
            "intermediate_size": c["inter"], "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
            "num_key_value_heads": c["kv"], "vocab_size": c["vocab"], "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def plan_shards(sh, max_bytes):
    shards, cur, size = [], [], 0
    for name, shape in sh:
        nbytes = int(np.prod(shape)) * 2
        if cur and size + nbytes > max_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += nbytes
    shards.append(cur)
    return shards


def header_bytes(entries):
    h, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        n = int(np.prod(shape)) * 2
        h[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    b = json.dumps(h, separators=(",", ":")).encode()
    b += b" " * ((8 - (8 + len(b)) % 8) % 8)
    return len(b).to_bytes(8, "little") + b


def to_bf16(x):
    return (x.view(np.uint32) >> 16).astype(np.uint16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="1b", choices=PRESETS)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard-bytes", type=int, default=2_000_000_000)
    a = ap.parse_args()
    c = PRESETS[a.preset]
    sh = shapes(c)
    shards = plan_shards(sh, a.shard_bytes)
    names = ("base", "vlm", "expert")
    rng = np.random.default_rng(0)
    total = sum(int(np.prod(s)) for _, s in sh)
    print(f"{a.preset}: {total / 1e9:.3f} B parameters, {len(shards)} shard(s) per model")
    for m in names:
        os.makedirs(os.path.join(a.out, m), exist_ok=True)
        with open(os.path.join(a.out, m, "config.json"), "w") as f:
            json.dump(config(c), f, indent=1)
    for si, entries in enumerate(shards):
        fname = f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors"
        files = {m: open(os.path.join(a.out, m, fname), "wb") for m in names}
        for f in files.values():
            f.write(header_bytes(entries))
        for name, shape in entries:
            n = int(np.prod(shape))
            base = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02)
            files["base"].write(to_bf16(base).tobytes())
            files["vlm"].write(to_bf16(base + rng.standard_normal(n, dtype=np.float32) * np.float32(0.002)).tobytes())
            files["expert"].write(to_bf16(base + rng.standard_normal(n, dtype=np.float32) * np.float32(0.003)).tobytes())
        for f in files.values():
            f.close()
        print("wrote", fname)
    for m in names:
        wm = {name: f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors" for si, e in enumerate(shards) for name, _ in e}
        with open(os.path.join(a.out, m, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total * 2}, "weight_map": wm}, f, indent=1)


if __name__ == "__main__":
    main()
