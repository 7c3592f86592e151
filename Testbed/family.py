"""The testbed's shared definitions: vocabulary, glyphs, tasks, and the model (PyTorch).

Everything here is deterministic for a seed. The model is a LLaMA-layout decoder (RMSNorm,
rotary positions with HF's rotate-half convention, SwiGLU MLP, no biases), so its checkpoints
use the usual Hugging Face tensor names and the Swift forward pass can mirror it exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Vocabulary. The base LM knows every token but <img>; the VLM appends <img> as an extra row
# (as LLaVA adds its image token), so the fusion core's "larger VLM vocabulary" path is real.
QUESTION_WORDS = ["which", "digits", "are", "shown", "read", "the", "numbers", "list", "what", "sum", "[w]"]
BASE_VOCAB = (
    ["<pad>", "<bos>", "<eos>", ":", "?", "+", "="]
    + [str(d) for d in range(10)]
    + [f"w{d}" for d in range(10)]
    + QUESTION_WORDS
)
VLM_VOCAB = BASE_VOCAB + ["<img>"]
TOK = {t: i for i, t in enumerate(VLM_VOCAB)}
PAD, BOS, EOS, IMG = TOK["<pad>"], TOK["<bos>"], TOK["<eos>"], TOK["<img>"]
DIGIT = [TOK[str(d)] for d in range(10)]
WDIGIT = [TOK[f"w{d}"] for d in range(10)]

# Paraphrases of "which digits?": the VLM is trained on all of them, so its perception does
# not hinge on one exact prompt (a lesson of the first prototype).
READ_PROMPTS = [
    ["which", "digits"],
    ["read", "the", "digits"],
    ["what", "numbers", "are", "shown"],
    ["list", "the", "digits"],
    ["digits"],
    ["which", "numbers", "are", "shown"],
]
SUM_PROMPT = ["sum"]
TAG_W = "[w]"

# 5x7 glyphs of the digits (rows top to bottom).
GLYPHS = {
    0: ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    1: ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    2: ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    3: ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    4: ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    5: ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    6: ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    7: ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    8: ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    9: ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
}
GLYPH = np.array([[int(c) for row in GLYPHS[d] for c in row] for d in range(10)], dtype=np.float32)  # 10 x 35
N_DIGITS_IN_IMAGE = 3
PATCH = 35


def render(digits: list[int], rng: np.random.Generator, noise: float) -> np.ndarray:
    """A 'rendered image': one 5x7 glyph per digit, with Gaussian pixel noise. Shape (3, 35)."""
    img = GLYPH[digits] + rng.normal(0.0, noise, size=(len(digits), PATCH)).astype(np.float32)
    return img.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Examples. An example is a token list with the answer span marked, plus an optional image.
@dataclass
class Example:
    tokens: list[int]
    answer_start: int  # answer tokens are tokens[answer_start:-1] (the final token is <eos>)
    image: np.ndarray | None = None  # (3, 35) when the example has <img> tokens

    @property
    def answer(self) -> list[int]:
        return self.tokens[self.answer_start:-1]


def _ids(words: list[str]) -> list[int]:
    return [TOK[w] for w in words]


def make_example(task: str, rng: np.random.Generator, noise: float = 0.35) -> Example:
    """One example of a task. Tasks:
    copy        text digits, a read prompt      -> the digits           (base skill)
    add         a + b =                          -> the sum's digits     (base skill)
    copy_w      text digits, a read prompt, [w]  -> the digits as w0-w9 (language expert)
    sum3        text digits, 'sum'               -> two-digit sum        (reasoning expert)
    see         image, a read prompt             -> the digits           (VLM perception)
    see_w       image, a read prompt, [w]        -> the digits as w0-w9  (language target)
    see_sum     image, 'sum'                     -> two-digit sum        (reasoning target)
    """
    if task == "add":
        a, b = int(rng.integers(10)), int(rng.integers(10))
        ans = [DIGIT[int(c)] for c in str(a + b)]
        prefix = [BOS, DIGIT[a], TOK["+"], DIGIT[b], TOK["="]]
        return Example(prefix + ans + [EOS], len(prefix))
    digits = [int(d) for d in rng.integers(0, 10, size=N_DIGITS_IN_IMAGE)]
    image = None
    if task.startswith("see"):
        source = [IMG] * N_DIGITS_IN_IMAGE
        image = render(digits, rng, noise)
    else:
        source = [DIGIT[d] for d in digits]
    if task in ("sum3", "see_sum"):
        prompt = _ids(SUM_PROMPT)
        s = sum(digits)
        ans = [DIGIT[s // 10], DIGIT[s % 10]]
    else:
        prompt = _ids(READ_PROMPTS[int(rng.integers(len(READ_PROMPTS)))])
        if task in ("copy_w", "see_w"):
            prompt = prompt + [TOK[TAG_W]]
            ans = [WDIGIT[d] for d in digits]
        else:
            ans = [DIGIT[d] for d in digits]
    prefix = [BOS] + source + [TOK[":"]] + prompt + [TOK["?"]]
    return Example(prefix + ans + [EOS], len(prefix), image)


def eval_split(task: str, n: int = 500, seed: int = 20261123) -> tuple[list[Example], list[Example]]:
    """The fixed evaluation pool of a task, split 20% validation / 80% test (seeded)."""
    rng = np.random.default_rng([seed, abs(hash_task(task))])
    pool = [make_example(task, rng) for _ in range(n)]
    order = np.random.default_rng([seed, 7]).permutation(n)
    n_val = n // 5
    return [pool[i] for i in order[:n_val]], [pool[i] for i in order[n_val:]]


def hash_task(task: str) -> int:
    """A stable (not Python's salted hash) integer per task name."""
    h = 0
    for ch in task.encode():
        h = (h * 131 + ch) % 2_147_483_647
    return h


def collate(examples: list[Example]) -> dict[str, torch.Tensor]:
    """Right-padded batch: input ids, target ids (-100 outside answers), images, image mask."""
    length = max(len(e.tokens) for e in examples)
    ids = torch.full((len(examples), length), PAD, dtype=torch.long)
    targets = torch.full((len(examples), length), -100, dtype=torch.long)
    images = torch.zeros((len(examples), N_DIGITS_IN_IMAGE, PATCH))
    for i, e in enumerate(examples):
        t = torch.tensor(e.tokens)
        ids[i, : len(t)] = t
        # position p predicts token p+1: supervise the answer tokens and the closing <eos>
        targets[i, e.answer_start - 1 : len(t) - 1] = t[e.answer_start :]
        if e.image is not None:
            images[i] = torch.from_numpy(e.image)
    return {"ids": ids, "targets": targets, "images": images}


# ---------------------------------------------------------------------------------------------
# Model
@dataclass
class Config:
    vocab_size: int = len(BASE_VOCAB)
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 64
    vision_hidden: int = 64

    def hf_text_config(self) -> dict:
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_attention_heads,
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": False,
            "attention_bias": False,
            "bos_token_id": BOS,
            "eos_token_id": EOS,
            "pad_token_id": PAD,
            "torch_dtype": "float16",
        }


class RMSNorm(nn.Module):
    def __init__(self, n: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary positions, HF LLaMA's rotate-half convention. x: (batch, heads, seq, head_dim)."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    pos = torch.arange(x.shape[-2], dtype=torch.float32)
    freqs = torch.outer(pos, inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        h = c.hidden_size
        self.heads, self.theta = c.num_attention_heads, c.rope_theta
        self.q_proj, self.k_proj = nn.Linear(h, h, bias=False), nn.Linear(h, h, bias=False)
        self.v_proj, self.o_proj = nn.Linear(h, h, bias=False), nn.Linear(h, h, bias=False)

    def forward(self, x, return_weights: bool = False):
        b, s, h = x.shape
        hd = h // self.heads

        def split(t):
            return t.view(b, s, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        q, k = rope(q, self.theta), rope(k, self.theta)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        mask = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
        weights = scores.masked_fill(mask, float("-inf")).softmax(-1)
        out = (weights @ v).transpose(1, 2).reshape(b, s, h)
        return self.o_proj(out), (weights if return_weights else None)


class MLP(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, return_weights=False):
        a, w = self.self_attn(self.input_layernorm(x), return_weights)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), w


class Decoder(nn.Module):
    """`model.*` of LlamaForCausalLM."""

    def __init__(self, c: Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class CausalLM(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.config = c
        self.model = Decoder(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def forward(self, ids, embeds=None, return_attention=False):
        x = self.model.embed_tokens(ids) if embeds is None else embeds
        attn = []
        for layer in self.model.layers:
            x, w = layer(x, return_attention)
            attn.append(w)
        return self.lm_head(self.model.norm(x)), attn


class VisionTower(nn.Module):
    """A per-glyph encoder: each 5x7 patch -> one feature vector."""

    def __init__(self, c: Config):
        super().__init__()
        self.fc1 = nn.Linear(PATCH, c.vision_hidden)
        self.fc2 = nn.Linear(c.vision_hidden, c.vision_hidden)

    def forward(self, patches):
        return self.fc2(F.gelu(self.fc1(patches)))


class Projector(nn.Module):
    """LLaVA's two-layer projector (linear_1, GELU, linear_2)."""

    def __init__(self, c: Config):
        super().__init__()
        self.linear_1 = nn.Linear(c.vision_hidden, c.hidden_size)
        self.linear_2 = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x):
        return self.linear_2(F.gelu(self.linear_1(x)))


class VLM(nn.Module):
    """LLaVA-style wrapper: `language_model.*`, `vision_tower.*`, `multi_modal_projector.*`."""

    def __init__(self, c: Config):
        super().__init__()
        self.language_model = CausalLM(c)
        self.vision_tower = VisionTower(c)
        self.multi_modal_projector = Projector(c)

    def embed(self, ids, images):
        x = self.language_model.model.embed_tokens(ids)
        is_img = ids == IMG
        if is_img.any():
            feats = self.multi_modal_projector(self.vision_tower(images))  # (b, 3, h)
            x = x.clone()
            x[is_img] = feats[is_img.sum(-1) > 0].reshape(-1, x.shape[-1])
        return x

    def forward(self, ids, images, return_attention=False):
        return self.language_model(ids, self.embed(ids, images), return_attention)


def text_config_for(c: Config, vocab: int) -> Config:
    d = dict(c.__dict__)
    d["vocab_size"] = vocab
    return Config(**d)


# ---------------------------------------------------------------------------------------------
# Merging (for the Python cross-checks; the product merges in Swift)
def task_arithmetic(vlm_sd: dict, base_sd: dict, expert_sd: dict, lv: float, lr: float) -> dict:
    """θ_0 + λ_V τ_V + λ_R τ_R on the VLM language model's tensors. Rows beyond the base's
    vocabulary (the VLM's <img> row) keep the VLM's values."""
    merged = {}
    for k, v in vlm_sd.items():
        t0 = base_sd[k]
        m = v.clone()
        n = t0.shape[0]
        m[:n] = t0 + lv * (v[:n] - t0) + lr * (expert_sd[k] - t0)
        merged[k] = m
    return merged


# ---------------------------------------------------------------------------------------------
# Scoring: teacher-forced, as the Swift evaluator does.
@torch.no_grad()
def score(model: nn.Module, examples: list[Example], is_vlm: bool) -> dict[str, float]:
    """Exact match (argmax at every answer position, <eos> excluded) and the mean over examples
    of the mean log-probability of the answer tokens."""
    batch = collate(examples)
    logits = model(batch["ids"], batch["images"])[0] if is_vlm else model(batch["ids"])[0]
    logp = logits.log_softmax(-1)
    exact, meanlp = [], []
    for i, e in enumerate(examples):
        pos = list(range(e.answer_start - 1, len(e.tokens) - 2))  # predicting the answer, not <eos>
        ans = e.answer
        lp = [logp[i, p, t].item() for p, t in zip(pos, ans)]
        pred = [int(logp[i, p].argmax()) for p in pos]
        exact.append(float(pred == ans))
        meanlp.append(sum(lp) / len(lp))
    return {"exact_match": float(np.mean(exact)), "mean_logprob": float(np.mean(meanlp))}
