"""The trainer's step against a bare PyTorch loop on the same model and batches, in one run.

The pipeline's step is :class:`regeo.train.step.TrainStep`, the code the training loop runs
(forward, cross-entropy on the next-token targets, backward, gradient clip, AdamW). The bare loop
is the same computation written out: two copies of one model (same seed, same optimizer settings
from ``make_optimizer``) take the same batches, their steps interleaved and their order
alternated, and each step's loss must be equal bit for bit, which shows that both do the same
work. The ratio is the pipeline's speed over the bare loop's: the median over steps of bare time /
pipeline time, each pair timed back to back (the medians of the two series drift apart by several
per cent on a shared machine; ``--control`` times a second bare loop in place of the pipeline's
step, which measures that noise). Run by hand, e.g.

    .venv/bin/python benchmarks/bench_train.py --presets tiny mini --threads 1

Also prints tokens/s and 6 N FLOP/s (N = all parameters, embeddings once when tied, as the
README's cost estimates count them).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from regeo.config import schema_defaults
from regeo.train.config import TrainConfig
from regeo.train.distributed import Group
from regeo.train.loop import build_model, configure_torch
from regeo.train.presets import parameter_count, resolve_preset
from regeo.train.step import make_optimizer, training_step

# The default config's shapes for tiny and mini (BPE 2048, 16 x 128); GPT-2's vocabulary and a
# short batch for 124m, which a CPU trains only slowly.
SHAPES = {"tiny": (2048, 16, 128), "mini": (2048, 16, 128), "124m": (50257, 2, 256), "llama-1.7b": (50257, 1, 128)}


def bare_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              lr: float, grad_clip: float) -> torch.Tensor:
    """One step as a plain PyTorch loop writes it; targets are the inputs shifted by one, so the
    loss is taken on the logits directly (Hugging Face's ``labels=`` would shift them again)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(input_ids=x).logits  # (B, T, V)
    loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def measure(preset: str, steps: int, warmup: int, threads: int, control: bool = False) -> dict:
    vocab, batch_size, seq_len = SHAPES[preset]
    fields = resolve_preset(preset)
    cfg = TrainConfig.from_params("bench", preset, fields, 0, dict(schema_defaults("training"), batch_size=batch_size,
                                                                   seq_len=seq_len, device="cpu", threads=threads))
    configure_torch(cfg)
    pipeline_model = build_model(cfg, vocab, eos_id=0).train()
    bare_model = build_model(cfg, vocab, eos_id=0).train()  # the same seed: the same weights
    bare_optimizer = make_optimizer(bare_model, cfg)
    if control:
        control_optimizer = make_optimizer(pipeline_model, cfg)

        def pipeline(x, y, lr):
            return bare_step(pipeline_model, control_optimizer, x, y, lr, cfg.grad_clip)
    else:
        pipeline = training_step(pipeline_model, make_optimizer(pipeline_model, cfg), cfg,
                                 Group(0, 1, torch.device("cpu")))
    generator = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {"pipeline": [], "bare": []}
    equal = True
    for step in range(warmup + steps):
        tokens = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=generator)  # (B, T+1)
        x, y = tokens[:, :-1], tokens[:, 1:]
        losses = {}
        order = ("pipeline", "bare") if step % 2 == 0 else ("bare", "pipeline")  # drift hits both alike
        for which in order:
            start = time.perf_counter()
            if which == "pipeline":
                losses[which] = pipeline(x, y, cfg.lr).item()
            else:
                losses[which] = bare_step(bare_model, bare_optimizer, x, y, cfg.lr, cfg.grad_clip).item()
            if step >= warmup:
                times[which].append(time.perf_counter() - start)
        equal &= losses["pipeline"] == losses["bare"]
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    pairs = sorted(b / p for p, b in zip(times["pipeline"], times["bare"]))
    tokens_per_step = batch_size * seq_len
    n_params = parameter_count(fields, vocab)
    return {"preset": preset, "parameters": n_params, "vocab": vocab, "batch_size": batch_size, "seq_len": seq_len,
            "steps": steps, "control": control, "pipeline_step_s": round(median["pipeline"], 5),
            "bare_step_s": round(median["bare"], 5), "ratio": round(pairs[len(pairs) // 2], 3),
            "ratio_of_medians": round(median["bare"] / median["pipeline"], 3), "losses_equal": equal,
            "tokens_per_s": round(tokens_per_step / median["pipeline"], 1),
            "flop_per_s": 6 * n_params * tokens_per_step / median["pipeline"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "mini"], choices=sorted(SHAPES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--control", action="store_true", help="a second bare loop in place of the pipeline's step")
    args = parser.parse_args()
    for preset in args.presets:
        result = measure(preset, args.steps, args.warmup, args.threads, args.control)
        result.update(threads=args.threads, load_average=round(os.getloadavg()[0], 2))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
