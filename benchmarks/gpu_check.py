"""The GPU path, measured in one run: the CUDA tests, training throughput and MFU of the 124m preset
at sequence length 1024 (eager and torch.compile'd), the cost of a dump and of a state save, and
the ID table of a 50,000 x 2048 matrix.

    benchmarks/gpu_check.sh OUTDIR [options]    # python3 (or $PYTHON) with PYTHONPATH=src

Writes OUTDIR/gpu_check.json and OUTDIR/gpu_check.md after every step (a run cut short keeps what
it measured) and prints each number as it is measured. Without a CUDA device it says so and runs
every step at smoke sizes on the CPU, so that the script itself is exercised; those numbers are
not GPU numbers. Each step has a time limit, and a step that would not fit the time budget left
(--budget-s, default 7 minutes) is skipped and recorded as such.

Exit status: 0 every step ran on a GPU; 3 no CUDA device (the CPU smoke run completed); 1 a step
failed (its error is in the JSON and the markdown).

Needs torch, transformers, safetensors, numpy, pandas and pytest; imports neither snakemake nor
datasets (the JSON records that), and regeo from the working tree, not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from bench_geometry import embedding_like
from regeo.config import schema_defaults
from regeo.dumps import model_embeddings, write_dump
from regeo.geometry.id_table import id_table
from regeo.geometry.knn import exact_knn
from regeo.stages.id_dynamics import id_config
from regeo.train.config import TrainConfig
from regeo.train.data import to_device, train_batch
from regeo.train.distributed import Group
from regeo.train.loop import LOG_COLUMNS, build_model, configure_torch
from regeo.train.presets import resolve_preset
from regeo.train.state import RunState
from regeo.train.step import make_optimizer, training_step
from regeo.train.throughput import model_flops_utilisation, non_embedding_parameters, peak_flops

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = 3

# What is measured: on a GPU the sizes; on a CPU the same steps, small enough for seconds.
SIZES = {
    "gpu": dict(preset="124m", vocab=50257, seq_len=1024, micro_batches=(8, 32), warmup=3, steps=20,
                id_shape=(50_000, 2048)),
    "cpu": dict(preset="tiny", vocab=2048, seq_len=128, micro_batches=(4,), warmup=1, steps=3, id_shape=(2_000, 64)),
}
# Seconds a step may take at most; a step starts only when its limit fits the budget left.
LIMITS = {"tests": 150, "eager": 45, "compiled": 150, "id": 150}


class StepTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise StepTimeout()


def say(text: str) -> None:
    print(text, flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(device: torch.device) -> dict:
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "cuda": torch.cuda.is_available(), "device": str(device), "host": platform.node()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gib=round(props.total_memory / 2**30, 1), torch_cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   sdpa_backends_enabled={"flash": torch.backends.cuda.flash_sdp_enabled(),
                                          "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                                          "cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
                                          "math": torch.backends.cuda.math_sdp_enabled()})
    else:
        env["cpu"] = platform.processor() or platform.machine()
        env["threads"] = torch.get_num_threads()
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                       timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["commit"] = None
    return env


def run_tests(limit: int) -> dict:
    """The cuda-marked tests (tests/gpu) in a child pytest, its output streamed."""
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider", "-rfEs",
               "-m", "cuda", "tests/gpu"]
    say("$ " + " ".join(command[1:]))
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            say("  | " + lines[-1])
            if time.perf_counter() - start > limit:
                raise StepTimeout()
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.wait()
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)",
                                                     "\n".join(lines[-3:]))}
    return {"returncode": proc.returncode, "counts": counts, "seconds": round(time.perf_counter() - start, 1),
            "failures": [line for line in lines if line.startswith(("FAILED", "ERROR"))],
            "ok": proc.returncode == 0}


def attention_kernels(step, x, y, device: torch.device) -> list[str]:
    """Names of the attention ops and kernels one step runs (which SDPA backend the model got)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step(x, y, 1e-4)
        synchronize(device)
    pattern = re.compile(r"flash|efficient_attention|fmha|cudnn.*(attn|attention)|scaled_dot_product", re.I)
    return sorted({event.key for event in prof.key_averages() if pattern.search(event.key)})


def host_syncs_per_step(step, batch, device: torch.device) -> dict:
    """Synchronising CUDA calls during two steps, as torch's sync debug mode reports them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(2):
                step(*batch(), 1e-4)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    messages = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
    return {"per_step": len(messages) / 2, "calls": sorted(set(messages))[:5]}


def measure_training(sizes: dict, micro: int, compiled: bool, device: torch.device, peak_override: float | None,
                     keep: bool = False):
    """Tokens/s of the pipeline's step (regeo.train.step) on random token windows read as the loop
    reads them (train_batch from a token array, pinned copies): the losses are read once, after the
    timed steps, as at a logging step."""
    fields = resolve_preset(sizes["preset"])
    training = dict(schema_defaults("training"), batch_size=micro, seq_len=sizes["seq_len"], device=device.type,
                    compile=compiled, peak_flops=peak_override)
    cfg = TrainConfig.from_params("gpu_check", sizes["preset"], fields, 0, training)
    configure_torch(cfg)
    if compiled:
        torch._dynamo.reset()  # each shape compiled afresh, as a training job compiles its one shape
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(cfg, sizes["vocab"], eos_id=0).to(device)
    optimizer = make_optimizer(model, cfg)
    step = training_step(model, optimizer, cfg, Group(0, 1, device))
    tokens = np.random.default_rng(0).integers(0, sizes["vocab"], 4_000_000, dtype=np.uint16)
    counter = iter(range(10**9))

    def batch():
        return to_device(train_batch(tokens, next(counter), 0, micro, cfg.seq_len), device)

    start = time.perf_counter()
    for _ in range(sizes["warmup"]):  # the first steps compile (compiled) or pick kernels
        step(*batch(), 1e-4)
    synchronize(device)
    warmup_s = time.perf_counter() - start
    synchronize(device)
    start = time.perf_counter()
    losses = [step(*batch(), 1e-4) for _ in range(sizes["steps"])]
    values = torch.stack(losses).tolist()  # the one host sync of the timed steps
    seconds = time.perf_counter() - start
    tokens_per_s = sizes["steps"] * micro * cfg.seq_len / seconds
    n, total = non_embedding_parameters(model), sum(p.numel() for p in model.parameters())
    peak = peak_flops(device, cfg.precision, peak_override)
    result = {"preset": sizes["preset"], "compiled": compiled, "micro_batch": micro, "seq_len": cfg.seq_len,
              "precision": cfg.precision if device.type == "cuda" else "fp32", "tokens_per_step": micro * cfg.seq_len,
              "step_ms": round(1000 * seconds / sizes["steps"], 2), "tokens_per_s": round(tokens_per_s, 1),
              "non_embedding_parameters": n, "parameters": total, "peak_flops": peak,
              "mfu": model_flops_utilisation(tokens_per_s, n, peak),
              "utilisation_6n_all_parameters": model_flops_utilisation(tokens_per_s, total, peak),
              "warmup_s": round(warmup_s, 1), "losses_finite": all(math.isfinite(v) for v in values),
              "max_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
              if device.type == "cuda" else None}
    if not compiled:
        x, y = batch()
        result["attention_kernels"] = attention_kernels(step, x, y, device)
        if device.type == "cuda":
            result["host_syncs"] = host_syncs_per_step(step, batch, device)
    return (result, model, optimizer) if keep else (result, None, None)


def measure_saves(model, optimizer) -> dict:
    """Seconds of one embedding dump and of one resumable-state save of ``model``, as the loop
    writes them (to a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="regeo-gpu-check-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        tensors, tied = model_embeddings(model)
        write_dump(tensors, root / "dump.safetensors", metadata={"run": "gpu_check", "step": 1, "tied": tied})
        dump_s = time.perf_counter() - start
        state = RunState(root / "state", "gpu_check", LOG_COLUMNS)
        start = time.perf_counter()
        state.save(1, model, optimizer, [])
        save_s = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in (root / "state" / "latest").iterdir()}
        return {"dump_s": round(dump_s, 2), "dump_mb": round((root / "dump.safetensors").stat().st_size / 1e6, 1),
                "state_save_s": round(save_s, 2), "state_mb": round(sum(sizes.values()) / 1e6, 1)}


def measure_id(shape: tuple[int, int], device: torch.device) -> dict:
    """The kNN with each screen, then the pipeline's default ID table (geometry.id and
    geometry.bootstrap defaults: every estimator, both nulls, the bootstrap) of one matrix."""
    X = embedding_like(*shape, seed=0)
    geometry = schema_defaults("geometry")
    cfg = id_config(geometry["id"], geometry["bootstrap"], "euclidean")
    result = {"n": shape[0], "d": shape[1], "k": cfg.max_k, "nulls": list(cfg.nulls),
              "bootstrap_replicates": cfg.bootstrap_replicates}
    for screen in ("bfloat16", "float32"):
        synchronize(device)
        start = time.perf_counter()
        exact_knn(X, cfg.max_k, device=device, screen=screen)
        result[f"knn_{screen}_s"] = round(time.perf_counter() - start, 2)
        say(f"  kNN, {screen} screen: {result[f'knn_{screen}_s']} s")
    start = time.perf_counter()
    table = id_table(X, cfg)
    result["id_table_s"] = round(time.perf_counter() - start, 2)
    result["values"] = {f"{r.estimator} k={r.k}": round(float(r.value), 2) for r in table.itertuples()}
    return result


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = ["# GPU check", ""]
    if not env["cuda"]:
        lines += ["**No CUDA device: a CPU smoke run at small sizes, not GPU numbers.**", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()] + [f"- total: {report['seconds']} s", ""]
    steps = report["steps"]
    for name, step in steps.items():
        if step.get("status") != "done":
            lines.append(f"- {name}: **{step.get('status')}** {step.get('error', '')}".rstrip())
    tests = steps.get("tests", {}).get("result")
    if tests:
        lines += ["", "## CUDA tests", "", f"{tests['counts']} in {tests['seconds']} s (exit {tests['returncode']})"]
        lines += [f"- {line}" for line in tests["failures"]]
    runs = [s["result"] for n, s in steps.items() if n.startswith("train") and "result" in s]
    if runs:
        first = runs[0]
        lines += ["", f"## Training throughput ({first['preset']}, sequence length {first['seq_len']}, "
                  f"{first['precision']})", "",
                  "| step | micro-batch | tokens/step | ms/step | tokens/s | MFU (6N, N non-embedding) | "
                  "6N/peak, N all parameters | peak memory GiB | warm-up s |", "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            cells = ["compiled" if r["compiled"] else "eager", r["micro_batch"], r["tokens_per_step"], r["step_ms"],
                     f"{r['tokens_per_s']:,.0f}", _percent(r["mfu"]), _percent(r["utilisation_6n_all_parameters"]),
                     r["max_memory_gib"] or "n/a", r["warmup_s"]]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
        peak = "unknown" if first["peak_flops"] is None else format(first["peak_flops"], ".3g")
        lines += ["", f"N = {first['non_embedding_parameters']:,} non-embedding parameters "
                  f"({first['parameters']:,} in all); peak {peak} FLOP/s."]
        eager = next((r for r in runs if not r["compiled"]), None)
        if eager:
            kernels = ", ".join(eager["attention_kernels"]) or "none"
            lines += ["", f"Attention ops and kernels of one eager step: {kernels}"]
            if "host_syncs" in eager:
                lines.append(f"Host syncs per step (torch.cuda sync debug mode): {eager['host_syncs']['per_step']} "
                             f"{eager['host_syncs']['calls']}")
    saves = steps.get("saves", {}).get("result")
    if saves:
        lines += ["", "## Dump and state save", "", "| what | MB | s |", "|---|---|---|",
                  f"| embedding dump | {saves['dump_mb']} | {saves['dump_s']} |",
                  f"| resumable state (model, optimizer, log) | {saves['state_mb']} | {saves['state_save_s']} |"]
    ident = steps.get("id", {}).get("result")
    if ident:
        lines += ["", f"## ID table ({ident['n']:,} x {ident['d']})", "",
                  f"kNN (k = {ident['k']}): bfloat16 screen {ident['knn_bfloat16_s']} s, float32 screen "
                  f"{ident['knn_float32_s']} s; the pipeline's default ID table (nulls {ident['nulls']}, "
                  f"{ident['bootstrap_replicates']} bootstrap replicates): {ident['id_table_s']} s.", "",
                  ", ".join(f"{k}: {v}" for k, v in ident["values"].items())]
    lines += ["", f"snakemake or datasets imported: {report['imports_snakemake_or_datasets']}", ""]
    return "\n".join(lines)


def finite(value):
    """``value`` with NaN and inf as None: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _percent(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--budget-s", type=float, default=420.0, help="time budget of all steps together")
    parser.add_argument("--skip", nargs="*", default=[], choices=["tests", "eager", "compiled", "saves", "id"])
    parser.add_argument("--peak-flops", type=float, default=None,
                        help="one device's peak FLOP/s for the MFU (default: looked up by GPU name)")
    parser.add_argument("--smoke", action="store_true", help="the CPU's small sizes, also on a GPU")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = SIZES["gpu" if device.type == "cuda" and not args.smoke else "cpu"]
    if device.type != "cuda":
        say("NO CUDA DEVICE: torch sees no GPU. Running every step at smoke sizes on the CPU; "
            "these are not GPU numbers (exit status 3).")
    began = time.perf_counter()
    report = {"environment": environment(device), "sizes": sizes, "steps": {}, "seconds": 0.0}
    say("environment: " + json.dumps(report["environment"]))

    def write() -> None:
        report["seconds"] = round(time.perf_counter() - began, 1)
        report["imports_snakemake_or_datasets"] = sorted({"snakemake", "datasets"} & set(sys.modules))
        (args.outdir / "gpu_check.json").write_text(json.dumps(finite(report), indent=2, default=str) + "\n")
        (args.outdir / "gpu_check.md").write_text(markdown(report))

    def run_step(name: str, kind: str, fn, *fn_args):
        left = args.budget_s - (time.perf_counter() - began)
        if kind in args.skip:
            report["steps"][name] = {"status": "skipped (--skip)"}
        elif left < LIMITS.get(kind, 60) / 3:
            report["steps"][name] = {"status": f"skipped: {left:.0f} s of the budget left"}
        else:
            say(f"== {name}")
            signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(int(min(LIMITS.get(kind, 60), max(left, 1))))
            start = time.perf_counter()
            try:
                result = fn(*fn_args)
                report["steps"][name] = {"status": "done", "seconds": round(time.perf_counter() - start, 1)}
                return result
            except StepTimeout:
                report["steps"][name] = {"status": "failed", "error": f"over its {LIMITS.get(kind, 60)} s limit"}
            except Exception as err:  # recorded, and the other steps still run
                report["steps"][name] = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            finally:
                signal.alarm(0)
        say(f"== {name}: {report['steps'][name]['status']} {report['steps'][name].get('error', '')}")
        write()
        return None

    def record(name: str, result: dict) -> None:
        report["steps"][name]["result"] = result
        say(f"  {name}: " + json.dumps(result, default=str))
        write()

    def train_step_measured(micro: int, compiled: bool, keep: bool) -> None:
        kind = "compiled" if compiled else "eager"
        name = f"train_{kind}_b{micro}"
        out = run_step(name, kind, measure_training, sizes, micro, compiled, device, args.peak_flops, keep)
        if out is None:
            return
        result, model, optimizer = out
        record(name, result)
        if model is not None:  # the paper's micro-batch, eager: its model and optimizer time the saves
            saves = run_step("saves", "saves", measure_saves, model, optimizer)
            if saves is not None:
                record("saves", saves)
        del model, optimizer, out
        if device.type == "cuda":
            torch.cuda.empty_cache()

    tests = run_step("tests", "tests", run_tests, LIMITS["tests"])
    if tests is not None:
        record("tests", tests)
        if not tests["ok"]:
            report["steps"]["tests"]["status"] = "failed"
            report["steps"]["tests"]["error"] = f"pytest exited {tests['returncode']}"
    # The paper's micro-batch eager and compiled, then the ID table, then the larger micro-batches:
    # what the budget cuts first is what matters least.
    first, *others = sizes["micro_batches"]
    for micro, compiled in [(first, False), (first, True)]:
        train_step_measured(micro, compiled, keep=not compiled)
    ident = run_step("id", "id", measure_id, sizes["id_shape"], device)
    if ident is not None:
        record("id", ident)
    for micro, compiled in [(m, c) for m in others for c in (False, True)]:
        train_step_measured(micro, compiled, keep=False)
    write()
    failed = [name for name, step in report["steps"].items() if step["status"] == "failed"]
    say(f"wrote {args.outdir / 'gpu_check.md'} and {args.outdir / 'gpu_check.json'} in {report['seconds']} s")
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    if device.type != "cuda":
        say("NO CUDA DEVICE: the CPU smoke run completed; the GPU numbers are still to be measured.")
        return NO_CUDA
    return 0


if __name__ == "__main__":
    sys.exit(main())
