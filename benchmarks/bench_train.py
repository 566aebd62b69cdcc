"""Training throughput of the size presets: tokens/s and achieved FLOP/s (6 N per token) on this machine.

The step timed is the trainer's own: forward, backward, gradient clip and AdamW step of the Llama
model `regeo.train.loop.build_model` builds, on random token windows. Run by hand, e.g.

    .venv/bin/python benchmarks/bench_train.py --presets tiny mini 124m --threads 2

The FLOP/s it reports calibrates the GPU estimates of the README ("Running the full study").
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from regeo.config import schema_defaults
from regeo.train.config import TrainConfig
from regeo.train.loop import build_model, make_optimizer
from regeo.train.presets import parameter_count, resolve_preset


def measure(preset: str, vocab: int, batch_size: int, seq_len: int, steps: int, warmup: int) -> dict:
    fields = resolve_preset(preset)
    cfg = TrainConfig.from_params("bench", preset, fields, 0, dict(schema_defaults("training"), batch_size=batch_size,
                                                                   seq_len=seq_len))
    model = build_model(cfg, vocab, eos_id=0).train()
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(warmup + steps):
        tokens = torch.randint(0, vocab, (batch_size, seq_len + 1), generator=generator)  # (B, T+1)
        start = time.perf_counter()
        loss = model(input_ids=tokens[:, :-1], labels=tokens[:, 1:]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]  # median step
    n_params = parameter_count(fields, vocab)
    tokens_per_step = batch_size * seq_len
    return {"preset": preset, "parameters": n_params, "vocab": vocab, "batch_size": batch_size, "seq_len": seq_len,
            "median_step_s": round(seconds, 4), "tokens_per_s": round(tokens_per_step / seconds, 1),
            "flop_per_s": 6 * n_params * tokens_per_step / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "mini", "124m"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # The default config's shapes for tiny and mini (BPE 4096, 16 x 128); GPT-2's vocabulary and a
    # short batch for 124m, which a CPU trains only slowly.
    shapes = {"tiny": (4096, 16, 128), "mini": (4096, 16, 128), "124m": (50257, 2, 256), "llama-1.7b": (50257, 1, 128)}
    for preset in args.presets:
        vocab, batch_size, seq_len = shapes[preset]
        result = measure(preset, vocab, batch_size, seq_len, args.steps, args.warmup)
        result["threads"] = args.threads
        print(json.dumps(result))


if __name__ == "__main__":
    main()
