#!/usr/bin/env python3
"""Cross-check for the Swift in-memory merge: task arithmetic of the f16 family in PyTorch,
scored on the first 20 validation examples (values pinned in Tests/TestbedTests/MergeTests.swift).

    cd Testbed && python merge_reference.py
"""
import json, sys, os
sys.path.insert(0, '.')
import torch, numpy as np
import family as fam
from export_eval import load_lm, load_vlm
torch.set_num_threads(1)
base = load_lm('models/base', len(fam.BASE_VOCAB)); vlm = load_vlm('models/vlm')
def ex(task, n=20):
    d = json.load(open(f'data/{task}.json'))['validation'][:n]
    return [fam.Example(e['tokens'], e['answer_start'], None if 'image' not in e else np.array(e['image'], dtype=np.float32).reshape(3,35)) for e in d]
theta0 = base.state_dict(); vsd = {k: v.clone() for k, v in vlm.language_model.state_dict().items()}
for scen, target, skill in [('language','see_w','copy_w'), ('reasoning','see_sum','sum3')]:
    esd = load_lm(f'models/expert-{scen}', len(fam.BASE_VOCAB)).state_dict()
    for lv, lr in [(1.5, 1.0), (0.5, 2.0)]:
        vlm.language_model.load_state_dict(fam.task_arithmetic(vsd, theta0, esd, lv, lr))
        s = fam.score(vlm, ex(target), True); p = fam.score(vlm, ex('see'), True); k_ = fam.score(vlm.language_model, ex(skill), False)
        print(scen, lv, lr, s, p, k_)
    vlm.language_model.load_state_dict(vsd)
