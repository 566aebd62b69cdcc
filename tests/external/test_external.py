"""External checkpoints as runs: resolving a step to a checkpoint, and dumping its embeddings in the
trained runs' format, on tiny random models saved locally as stand-ins for the hub's revisions."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from regeo.dumps import dump_name, read_dump
from regeo.config import ConfigError, external_runs, validate_config
from regeo.external import CheckpointSource, external_run
from regeo.io import RegeoInputError, tensor_metadata
from regeo.stages import external as stage
from regeo.tokenizer import load_tokenizer
from tiny_models import PAD_ROWS, save_revisions, tiny_tokenizer

REPO = Path(__file__).resolve().parents[2]
STEPS = [0, 1, 2, 4]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def revisions(tmp_path_factory, tokenizer):
    return save_revisions(tmp_path_factory.mktemp("tiny-neox"), STEPS, tokenizer=tokenizer)


def settings(model: str, steps=STEPS, **extra) -> dict:
    return external_run({"name": "ext", "model": model, "steps": steps, **extra}).settings()


def dump_paths(root: Path, steps=STEPS) -> list[str]:
    return [str(root / "embeddings" / dump_name(s)) for s in steps]


def run_stage(tmp_path, cfg: dict, steps=STEPS):
    out = tmp_path / "runs" / "ext"
    stage.dump_external_run(cfg, dump_paths(out, steps), out / "tokenizer", out / "external_state")
    return out


# --- resolving steps to checkpoints ---------------------------------------------------------------

def test_pythia_schedule_and_hub_revisions():
    run = external_run({"name": "pythia-160m", "model": "EleutherAI/pythia-160m",
                        "schedule": {"steps": 143000, "every": 1000}})
    assert len(run.steps) == 154 and run.steps[:3] == (0, 1, 2) and run.steps[-1] == 143000
    assert run.source(1000) == CheckpointSource(1000, "EleutherAI/pythia-160m", "step1000")
    assert (run.subset, run.preset, run.seed) == ("pythia-160m", "EleutherAI/pythia-160m", 0)


def test_explicit_revisions_and_path_templates():
    run = external_run({"name": "m", "model": "org/model", "revisions": {0: "init", "500": "v1.0"}})
    assert run.steps == (0, 500)
    assert [s.revision for s in run.sources()] == ["init", "v1.0"]
    local = external_run({"name": "m", "model": "/ckpt/{revision}/hf", "steps": [3],
                          "revision_template": "iter_{step:07d}"})
    assert local.source(3) == CheckpointSource(3, "/ckpt/iter_0000003/hf", None)  # no revision for a directory
    assert local.preset == "external"


def test_a_plain_local_directory_with_several_steps_is_refused(revisions):
    run = external_run({"name": "m", "model": str(revisions[0]), "steps": [0, 1]})
    with pytest.raises(RegeoInputError, match="local directory, which has no revisions"):
        run.source(1)
    single = external_run({"name": "m", "model": str(revisions[0]), "steps": [7]})
    assert single.source(7).location == str(revisions[0])


def base_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "model": "org/m"}, r"config.external\[0\]: give exactly one of steps, schedule or revisions"),
    ({"name": "x", "model": "org/m", "steps": [0], "schedule": {"steps": 10, "every": 5}},
     r"exactly one of steps, schedule or revisions \(found steps, schedule\)"),
    ({"name": "x", "model": "/ckpt/{iteration}", "steps": [0]}, r"config.external\[0\].model: unknown placeholder"),
    ({"name": "x", "model": "org/m", "steps": [0], "revision_template": "r{revision}"}, r"cannot name itself"),
    ({"name": "ne-tiny-s0", "model": "org/m", "steps": [0]}, r"'ne-tiny-s0' is also a run of training.runs"),
    ({"name": "x", "model": "org/m", "steps": [0], "trust_remote_code": "yes"}, r"'yes' is not of type 'boolean'"),
])
def test_config_errors_name_the_entry(entry, message):
    cfg = base_config()
    cfg["external"] = [entry]
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_valid_entries_become_runs():
    cfg = base_config()
    cfg["external"] = [{"name": "a", "model": "org/m", "steps": [0, 10]},
                       {"name": "b", "model": "/x/step{step}", "schedule": {"steps": 8, "every": 4}, "seed": 2}]
    runs = external_runs(validate_config(cfg))
    assert list(runs) == ["a", "b"] and runs["b"].steps == (0, 1, 2, 4, 8) and runs["b"].seed == 2
    assert runs["a"].revision_template == "step{step}" and not runs["a"].trust_remote_code  # schema defaults
    twice = copy.deepcopy(cfg)
    twice["external"][1]["name"] = "a"
    with pytest.raises(ConfigError, match=r"external\[1\].name: 'a' is already the name of external\[0\]"):
        validate_config(twice)


# --- dumping ----------------------------------------------------------------------------------------

def test_local_revisions_give_the_trainers_dump_format(tmp_path, revisions, tokenizer):
    out = run_stage(tmp_path, settings(str(revisions[0].parent / "step{step}"), tokens_per_step=64))
    vocab = len(tokenizer)
    for step in STEPS:
        model = AutoModelForCausalLM.from_pretrained(revisions[step])
        path = out / "embeddings" / dump_name(step)
        inputs, outputs = read_dump(path).input, read_dump(path).output
        assert inputs.dtype == torch.float32 and inputs.shape == (vocab, 16)  # padding rows dropped
        assert torch.equal(inputs, model.get_input_embeddings().weight[:vocab])
        assert torch.equal(outputs, model.get_output_embeddings().weight[:vocab])
        meta = tensor_metadata(path)
        assert meta == {"run": "ext", "step": step, "tied": False, "model": str(revisions[step]), "revision": None,
                        "rows_dropped": PAD_ROWS, "tokens": step * 64, "source": "local",
                        "stored_dtype": "float32", "quantisation": None, "dequantised_dtype": "float32"}
    assert len(load_tokenizer(out / "tokenizer")) == vocab
    assert load_tokenizer(out / "tokenizer")("the old town").input_ids == tokenizer("the old town").input_ids
    assert not (out / "external_state").exists()  # the resume state goes once the outputs are written


def test_a_tied_model_stores_one_matrix(tmp_path, tokenizer):
    revisions = save_revisions(tmp_path / "llama", [0, 5], arch="llama", tokenizer=tokenizer)
    out = run_stage(tmp_path, settings(str(tmp_path / "llama" / "step{step}"), steps=[0, 5]), steps=[0, 5])
    path = out / "embeddings" / dump_name(5)
    assert tensor_metadata(path)["tied"] is True
    assert read_dump(path).tied and torch.equal(read_dump(path).output, read_dump(path).input)  # resolved like a trained tied run
    model = AutoModelForCausalLM.from_pretrained(revisions[5])
    assert torch.equal(read_dump(path).input, model.get_input_embeddings().weight[:len(tokenizer)])


def test_hub_path_passes_each_revision_and_cleans_its_downloads(tmp_path, monkeypatch, revisions):
    """from_pretrained is recorded (and answered from the local stand-ins); the product code path is real."""
    calls = []
    real_model, real_tokenizer = AutoModelForCausalLM.from_pretrained, AutoTokenizer.from_pretrained

    def record(real):
        def from_pretrained(location, **kwargs):
            calls.append((real is real_model, location, dict(kwargs)))
            if kwargs.get("cache_dir"):
                (Path(kwargs["cache_dir"]) / "blob").write_bytes(b"downloaded")  # what a download leaves
            return real(revisions[int(kwargs["revision"].removeprefix("step"))])
        return from_pretrained

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", record(real_model))
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", record(real_tokenizer))
    out = run_stage(tmp_path, settings("EleutherAI/pythia-160m"))
    models = [(location, kw) for is_model, location, kw in calls if is_model]
    assert [kw["revision"] for _, kw in models] == [f"step{s}" for s in STEPS]
    assert all(location == "EleutherAI/pythia-160m" and kw["trust_remote_code"] is False for location, kw in models)
    assert all(Path(kw["cache_dir"]).parent == out / "external_state" / "downloads" for _, kw in models)
    tokenizer_calls = [kw for is_model, _, kw in calls if not is_model]
    assert tokenizer_calls == [{"trust_remote_code": False, "revision": "step4"}]  # the final checkpoint's
    assert tensor_metadata(out / "embeddings" / dump_name(2))["revision"] == "step2"
    assert not (out / "external_state").exists()


def test_trust_remote_code_only_when_asked(tmp_path, monkeypatch, revisions):
    seen = []
    real = AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda location, **kw: seen.append(kw["trust_remote_code"]) or real(location))
    run_stage(tmp_path, settings(str(revisions[0].parent / "step{step}"), steps=[0], trust_remote_code=True), steps=[0])
    assert seen == [True]


def test_a_killed_job_resumes_after_its_last_dump(tmp_path, monkeypatch, revisions):
    cfg = settings(str(revisions[0].parent / "step{step}"))
    reference = run_stage(tmp_path / "reference", cfg)
    real = stage.load_embeddings
    loaded, kill_at = [], [3]

    def killed_at_the_third(source, *args):
        loaded.append(source.step)
        if len(loaded) in kill_at:
            raise KeyboardInterrupt("killed")
        return real(source, *args)

    monkeypatch.setattr(stage, "load_embeddings", killed_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path / "resumed", cfg)
    kill_at.clear()
    out = tmp_path / "resumed" / "runs" / "ext"
    for path in (out / "embeddings").glob("*.safetensors"):  # Snakemake deletes the outputs before a rerun
        path.unlink()
    loaded.clear()
    run_stage(tmp_path / "resumed", cfg)
    assert loaded == [2, 4]  # steps 0 and 1 came from the state
    for step in STEPS:
        name = dump_name(step)
        assert (out / "embeddings" / name).read_bytes() == (reference / "embeddings" / name).read_bytes()
    # A state written under other settings is not used.
    (out / "external_state").mkdir()
    (out / "external_state" / "meta.json").write_text('{"fingerprint": "other"}')
    (out / "external_state" / dump_name(0)).write_bytes(b"stale")
    loaded.clear()
    run_stage(tmp_path / "resumed", cfg)
    assert loaded == STEPS


@pytest.mark.parametrize("arch", ["neox", "gpt2"])
def test_the_cost_model_reads_a_local_checkpoints_size_without_loading_it(tmp_path, tokenizer, arch):
    """regeo.external.local_shape: the last revision's vocabulary rows, width, tying and stored
    parameters, equal to the loaded model's; a hub id or a missing directory gives None (assumed)."""
    from regeo.external import local_shape

    save_revisions(tmp_path, [0, 8], arch=arch, tokenizer=tokenizer, hidden_size=24)
    run = external_run({"name": "ext", "model": str(tmp_path / "step{step}"), "steps": [0, 8]})
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "step8")
    shape = local_shape(run)
    assert (shape.rows, shape.width) == tuple(model.get_input_embeddings().weight.shape)
    assert shape.untied == (arch == "neox")
    assert shape.params == sum(p.numel() for p in model.parameters())
    assert local_shape(external_run({"name": "hub", "model": "EleutherAI/pythia-160m", "steps": [0, 8]})) is None
    assert local_shape(external_run({"name": "gone", "model": str(tmp_path / "none{step}"), "steps": [0]})) is None
