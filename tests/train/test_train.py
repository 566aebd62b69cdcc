import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM

from regeo.io import load_tensors
from regeo.train.loop import LOG_COLUMNS, TIMING_COLUMNS, TrainingDiverged, train
from regeo.dumps import dump_name
from regeo.train.schedule import checkpoint_steps
from train_helpers import micro_config, run_paths, write_token_files


@pytest.fixture(scope="module")
def token_files(tmp_path_factory, small_corpus, small_tokenizer):
    return write_token_files(tmp_path_factory.mktemp("tokens"), small_corpus, small_tokenizer)


def run(cfg, token_files, root):
    train(cfg, *token_files, **run_paths(root))
    return root


def dumps(root, cfg):
    return {s: load_tensors(root / "embeddings" / dump_name(s)) for s in checkpoint_steps(cfg.steps, cfg.checkpoint_every)}


def assert_same_run(a, b, cfg):
    da, db = dumps(a, cfg), dumps(b, cfg)
    for step in da:
        for key in ("input", "output"):
            assert torch.equal(da[step][key], db[step][key]), f"step {step} {key} differs"
    la, lb = pd.read_csv(a / "train_log.csv"), pd.read_csv(b / "train_log.csv")
    pd.testing.assert_frame_equal(la.drop(columns=TIMING_COLUMNS), lb.drop(columns=TIMING_COLUMNS))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, token_files):
    return run(micro_config(), token_files, tmp_path_factory.mktemp("reference"))


def test_outputs_and_from_pretrained(reference):
    cfg = micro_config()
    assert sorted(p.name for p in (reference / "embeddings").iterdir()) == [dump_name(s) for s in checkpoint_steps(40, 10)]
    log = pd.read_csv(reference / "train_log.csv")
    assert list(log.columns) == LOG_COLUMNS == ["step", "loss", "val_loss", "tokens", "tokens_per_s", "lr", "mfu"]
    assert len(log) == cfg.steps and log["val_loss"].notna().sum() == 4
    assert (log["tokens_per_s"] > 0).all() and log["mfu"].isna().all()  # a CPU has no known peak
    # It learns: from a uniform guess (log 512 = 6.24) to 5.77, 15x a step's scatter about the trend.
    assert log["loss"].iloc[-5:].mean() < log["loss"].iloc[:5].mean(), log["loss"].tolist()
    model = AutoModelForCausalLM.from_pretrained(reference / "model")
    last = load_tensors(reference / "embeddings" / dump_name(cfg.steps))
    assert torch.equal(model.get_input_embeddings().weight, last["input"])
    assert torch.equal(model.get_output_embeddings().weight, last["output"])
    assert not (reference / "state").exists()  # the resumable state is removed once finished


def test_same_seed_same_run_other_seed_differs(tmp_path, token_files, reference):
    again = run(micro_config(), token_files, tmp_path / "again")
    assert_same_run(reference, again, micro_config())
    other = run(micro_config(seed=4), token_files, tmp_path / "other")
    assert not torch.equal(dumps(other, micro_config())[0]["input"], dumps(reference, micro_config())[0]["input"])


def test_data_seed_changes_the_batches_not_the_initial_weights(tmp_path, token_files, reference):
    """PolyPythias' two seeds: data_seed = seed is the run that had none (same batches, same
    fingerprint); another data seed starts from the same weights and sees other batches."""
    base = micro_config()
    assert micro_config(data_seed=3).fingerprint() == base.fingerprint() != micro_config(data_seed=5).fingerprint()
    assert "data_seed" not in micro_config(data_seed=3).hyperparameters()
    assert micro_config(data_seed=5).hyperparameters()["data_seed"] == 5
    same = run(micro_config(data_seed=3), token_files, tmp_path / "same")
    assert_same_run(reference, same, base)
    other = run(micro_config(data_seed=5), token_files, tmp_path / "other")
    first, last = dumps(other, base), dumps(reference, base)
    assert torch.equal(first[0]["input"], last[0]["input"])  # the same initialisation
    assert not torch.equal(first[base.steps]["input"], last[base.steps]["input"])  # other batches


def test_run_groups_cross_weight_and_data_seeds():
    from regeo.config import Run, load_config_file, runs, validate_config

    cfg = load_config_file(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "config", "config.yaml"))
    cfg["training"]["runs"] = [{"subsets": ["ne"], "presets": ["tiny"], "seeds": [0, 1], "data_seeds": [0, 7]}]
    cfg["steering"]["pairs"] = []
    table = runs(validate_config(cfg))
    assert list(table) == ["ne-tiny-s0", "ne-tiny-s0-d7", "ne-tiny-s1-d0", "ne-tiny-s1-d7"]
    # data seed = seed is the run without one: its name, params and fingerprint stay as they were
    assert table["ne-tiny-s0"] == Run("ne", "tiny", 0) and table["ne-tiny-s1-d7"].batch_seed == 7
    assert Run("ne", "tiny", 1).name == "ne-tiny-s1" and Run("ne", "tiny", 1).batch_seed == 1


KILLER = textwrap.dedent("""
    import os, signal, sys
    import regeo.train.loop as loop
    from train_helpers import micro_config, run_paths
    from pathlib import Path
    kill_at = int(sys.argv[1])
    real = loop.train_batch
    def batch(tokens, step, *args):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIG{sig})
        return real(tokens, step, *args)
    loop.train_batch = batch
    loop.train(micro_config(), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), **run_paths(Path(sys.argv[5])))
""")


def killed_run(sig, kill_at, token_files, root):
    script = KILLER.replace("{sig}", sig)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", script, str(kill_at), *map(str, token_files), str(root)],
                          env=env, capture_output=True, text=True, timeout=300)
    return proc


@pytest.mark.parametrize("kill_at", [3, 17, 31])
def test_sigkill_then_resume_is_bitwise_identical(tmp_path, token_files, reference, kill_at):
    proc = killed_run("KILL", kill_at, token_files, tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (tmp_path / "model").exists()
    saved = (kill_at // 5) * 5
    if saved:
        assert (tmp_path / "state" / "latest" / "progress.json").is_file()
    # Snakemake deletes declared outputs before the retry; the state must bring the dumps back.
    for dump in (tmp_path / "embeddings").glob("*.safetensors"):
        dump.unlink()
    train(micro_config(), *token_files, **run_paths(tmp_path))
    assert_same_run(reference, tmp_path, micro_config())


def test_sigterm_saves_state_and_exits_for_retry(tmp_path, token_files, reference):
    proc = killed_run("TERM", 12, token_files, tmp_path)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert '"step": 13' in (tmp_path / "state" / "latest" / "progress.json").read_text()
    train(micro_config(), *token_files, **run_paths(tmp_path))
    assert_same_run(reference, tmp_path, micro_config())


FINAL_SAVE_SIGNAL = textwrap.dedent("""
    import os, signal, sys
    import regeo.train.loop as loop
    from train_helpers import micro_config, run_paths
    from pathlib import Path
    phase, root = sys.argv[1], Path(sys.argv[5])
    real_atomic_dir, real_rmtree = loop.atomic_dir, loop.shutil.rmtree
    def atomic_dir(path):
        if Path(path) == root / "model":
            os.kill(os.getpid(), signal.SIGTERM)
        return real_atomic_dir(path)
    def rmtree(path, **kw):
        if Path(path) == root / "state":
            os.kill(os.getpid(), signal.SIGTERM)
        return real_rmtree(path, **kw)
    if phase == "model":
        loop.atomic_dir = atomic_dir
    else:
        loop.shutil.rmtree = rmtree
    loop.train(micro_config(), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), **run_paths(Path(sys.argv[5])))
""")


@pytest.mark.parametrize("phase", ["model", "cleanup"])
def test_a_signal_during_the_final_save_keeps_the_finished_run(tmp_path, token_files, reference, phase):
    """SIGTERM once training is complete (while the final model is written, or the state
    removed): the writes finish, the run exits 0 with every output, and nothing is left to resume."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", FINAL_SAVE_SIGNAL, phase, *map(str, token_files), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "signal 15 during the final save; the run is complete" in proc.stderr
    assert_same_run(reference, tmp_path, micro_config())
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "model") is not None
    assert not (tmp_path / "state").exists()


def test_state_of_another_config_is_not_resumed(tmp_path, token_files, caplog):
    proc = killed_run("KILL", 17, token_files, tmp_path)
    assert proc.returncode == -signal.SIGKILL
    changed = micro_config(lr=1e-3)
    train(changed, *token_files, **run_paths(tmp_path))
    assert "from another config" in caplog.text
    fresh = run(changed, token_files, tmp_path / "fresh")
    assert_same_run(fresh, tmp_path, changed)


def test_nan_loss_stops_with_step_and_keeps_last_state(tmp_path, token_files):
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step \d+; the last good state \(step \d+\)"):
        train(micro_config(lr=float("inf")), *token_files, **run_paths(tmp_path))
    assert not (tmp_path / "model").exists()


def test_dump_metadata_and_corrupt_dump_named(tmp_path, reference):
    from regeo.io import RegeoInputError, tensor_metadata
    from regeo.dumps import read_dump

    path = reference / "embeddings" / dump_name(10)
    assert tensor_metadata(path) == {"run": "micro", "step": 10, "tokens": 10 * 4 * 16, "tied": False}
    broken = tmp_path / dump_name(10)
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RegeoInputError, match=f"{broken}: not a readable safetensors file"):
        read_dump(broken)


@pytest.mark.parametrize("micro_batch_size", [None, 1], ids=["whole-share", "accumulated"])
def test_data_parallel_under_torchrun_matches_one_process(tmp_path, token_files, reference, micro_batch_size):
    """Two gloo processes started by real torchrun, each with half of every batch (in one pass, or
    accumulated over two micro-batches with DDP's all-reduce at the second only): the same
    trajectory as one process up to the order of floating-point sums."""
    from dataclasses import asdict

    from regeo.logs import log_to
    from regeo.train.job import train_run

    cfg = micro_config(micro_batch_size=micro_batch_size)
    params = {"run": cfg.run, "preset": cfg.preset, "model": cfg.model, "seed": cfg.seed,
              "training": {k: v for k, v in asdict(cfg).items() if k not in ("run", "preset", "model", "seed", "data_seed")}}
    with log_to(tmp_path / "train.log"):
        train_run(params, 2, *token_files, **run_paths(tmp_path))
    log_text = (tmp_path / "train.log").read_text()
    assert "2 processes (data-parallel, gloo)" in log_text
    assert f"{1 if micro_batch_size is None else 2} micro-batch(es) per step" in log_text
    assert "rank1" in log_text  # the second worker ran and logged
    da, db = dumps(reference, cfg), dumps(tmp_path, cfg)
    assert da.keys() == db.keys()
    for step in da:
        for key in ("input", "output"):
            torch.testing.assert_close(db[step][key], da[step][key], rtol=1e-4, atol=1e-5)
    la, lb = pd.read_csv(reference / "train_log.csv"), pd.read_csv(tmp_path / "train_log.csv")
    np.testing.assert_allclose(lb["loss"], la["loss"], rtol=1e-4)
    assert not (tmp_path / "state").exists() and not (tmp_path / "torchrun_job.json").exists()


def test_data_parallel_needs_a_divisible_batch(monkeypatch):
    from regeo.io import RegeoInputError
    from regeo.train import distributed

    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(RegeoInputError, match=r"training.batch_size \(16\) must be divisible .* \(3\)"):
        distributed.init("cpu", 16)


def test_every_token_row_can_learn_the_separator_included(reference, small_tokenizer):
    """No row is a frozen padding row: the end-of-text token (between documents) trains too."""
    cfg = micro_config()
    first, last = dumps(reference, cfg)[0], dumps(reference, cfg)[cfg.steps]
    eos = small_tokenizer.eos_token_id
    assert first["input"][eos].abs().sum() > 0
    assert not torch.equal(first["input"][eos], last["input"][eos])
    assert (first["input"].abs().sum(dim=1) > 0).all()


def test_micro_batches_accumulate_the_same_batch(tmp_path, token_files, reference, caplog):
    """A micro-batch of the whole batch is the default run bit for bit; two micro-batches of two
    sequences take the same batches and follow the same trajectory up to the order of sums."""
    whole = run(micro_config(micro_batch_size=4), token_files, tmp_path / "whole")
    assert_same_run(reference, whole, micro_config())
    with caplog.at_level("INFO", logger="regeo.train.loop"):
        split = run(micro_config(micro_batch_size=2), token_files, tmp_path / "split")
    assert "2 micro-batch(es) per step" in caplog.text
    cfg = micro_config()
    da, db = dumps(reference, cfg), dumps(split, cfg)
    for step in da:
        for key in ("input", "output"):
            torch.testing.assert_close(db[step][key], da[step][key], rtol=1e-5, atol=1e-6)
    la, lb = pd.read_csv(reference / "train_log.csv"), pd.read_csv(split / "train_log.csv")
    np.testing.assert_allclose(lb["loss"], la["loss"], rtol=1e-5)
    np.testing.assert_allclose(lb["val_loss"], la["val_loss"], rtol=1e-5)


def test_a_micro_batch_that_does_not_divide_the_batch_is_refused_before_any_write(tmp_path, token_files):
    from regeo.io import RegeoInputError

    with pytest.raises(RegeoInputError, match=r"training.micro_batch_size \(3\) must divide the 4 sequences"):
        train(micro_config(micro_batch_size=3), *token_files, **run_paths(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_losses_are_read_at_logging_steps_only_and_every_step_is_logged(tmp_path, token_files, reference,
                                                                        monkeypatch):
    """log_every and state_every 20: the losses leave the device at the dumps (1, 2, 4, 8, 10, 20,
    30, 40), the evaluations (10, 20, 30, 40) and the saves (20, 40) only, 8 reads for 40 steps."""
    import regeo.train.loop as loop

    reads = []
    real = loop.StepLog.read

    def read(self):
        reads.append(len(self.pending))
        return real(self)

    monkeypatch.setattr(loop.StepLog, "read", read)
    run(micro_config(log_every=20, state_every=20), token_files, tmp_path)
    assert reads == [1, 1, 2, 4, 2, 10, 10, 10]
    assert_same_run(reference, tmp_path, micro_config())


def test_execution_settings_change_neither_the_run_nor_its_fingerprint(tmp_path, token_files, reference):
    import json

    from regeo.train.config import EXECUTION_KEYS
    from regeo.train.throughput import non_embedding_parameters

    fast = micro_config(log_every=7, peak_flops=1e9)
    assert fast.fingerprint() == micro_config().fingerprint()
    run(fast, token_files, tmp_path)
    assert_same_run(reference, tmp_path, micro_config())
    # The model directory records what shaped the model, not how fast it went: the same bytes.
    saved = json.loads((tmp_path / "model" / "regeo_train_config.json").read_text())
    assert not set(EXECUTION_KEYS) & set(saved)
    assert (tmp_path / "model" / "regeo_train_config.json").read_bytes() == \
        (reference / "model" / "regeo_train_config.json").read_bytes()
    log = pd.read_csv(tmp_path / "train_log.csv")
    n = non_embedding_parameters(AutoModelForCausalLM.from_pretrained(tmp_path / "model"))
    np.testing.assert_allclose(log["mfu"], 6 * n * log["tokens_per_s"] / 1e9, rtol=1e-12)


def test_compiled_training_is_the_same_run(tmp_path, token_files, reference, monkeypatch):
    """training.compile runs the step through torch.compile; here with dynamo's eager backend (a CPU
    test builds no C++ kernels; benchmarks/gpu_check.sh times Inductor on a GPU)."""
    compiled = []
    real = torch.compile

    def compile_eagerly(module, **kwargs):
        compiled.append(type(module).__name__)
        return real(module, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    run(micro_config(compile=True), token_files, tmp_path)
    assert compiled == ["LlamaForCausalLM"]
    assert_same_run(reference, tmp_path, micro_config())


def test_the_state_of_a_tied_model_saves_and_loads(tmp_path, small_tokenizer):
    """Tied embeddings (the 124m and 1.7b presets) are one matrix under two names in the state dict."""
    from regeo.train.loop import LOG_COLUMNS, build_model
    from regeo.train.state import RunState
    from regeo.train.step import make_optimizer
    from train_helpers import MICRO

    cfg = micro_config(model=dict(MICRO, tie_word_embeddings=True))
    model = build_model(cfg, len(small_tokenizer), small_tokenizer.eos_token_id)
    optimizer = make_optimizer(model, cfg)
    model(input_ids=torch.arange(16)[None]).logits.sum().backward()
    optimizer.step()
    state = RunState(tmp_path, cfg.fingerprint(), LOG_COLUMNS)
    state.save(1, model, optimizer, [])
    fresh = build_model(micro_config(model=dict(MICRO, tie_word_embeddings=True), seed=9), len(small_tokenizer), 0)
    assert state.load(fresh, make_optimizer(fresh, cfg))[0] == 1
    assert fresh.get_output_embeddings().weight is fresh.get_input_embeddings().weight
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
