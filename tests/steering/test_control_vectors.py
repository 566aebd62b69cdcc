"""Control-vector GGUF export: what the gguf package reads back is what the pair job saved, exactly,
named and described as repeng writes it."""

import gguf
import numpy as np
import pytest
import torch

from regeo.io import RegeoInputError, save_tensors
from regeo.stages.steering_judge import steering_control_vectors
from regeo.steering.control_vectors import read_control_vector, write_control_vector


def _field_string(reader, key):
    field = reader.get_field(key)
    return bytes(field.parts[field.data[0]]).decode()


def test_round_trip_is_exact_and_in_repengs_format(tmp_path, model_dirs):
    rng = np.random.default_rng(0)
    saved = {"c.source": torch.from_numpy(rng.standard_normal(64).astype(np.float32)),
             "c.native": torch.from_numpy(rng.standard_normal(128).astype(np.float32) * 1e3),
             "c.transferred": torch.from_numpy(rng.standard_normal(128).astype(np.float32) * 1e-6)}
    vectors = tmp_path / "a__b.safetensors"
    save_tensors(saved, vectors, metadata={"source": "a", "target": "b", "layer_source": "0", "layer_target": "2"})
    out = tmp_path / "a__b"
    steering_control_vectors([{"source": "a", "target": "b"}], [vectors], {"a": model_dirs["a"], "b": model_dirs["b"]},
                             [out])
    assert sorted(p.name for p in out.iterdir()) == ["c.native.gguf", "c.source.gguf", "c.transferred.gguf"]
    for name, tensor in saved.items():
        reader = gguf.GGUFReader(str(out / f"{name}.gguf"))
        layer = 0 if name.endswith("source") else 2  # the source vector lives in A's block, the others in B's
        assert [t.name for t in reader.tensors] == [f"direction.{layer}"]
        read = np.asarray(reader.tensors[0].data)
        assert read.dtype == np.float32 and np.array_equal(read, tensor.numpy())  # bit for bit
        assert _field_string(reader, "general.architecture") == "controlvector"
        assert _field_string(reader, "controlvector.model_hint") == "llama"
        field = reader.get_field("controlvector.layer_count")
        assert int(field.parts[field.data[0]][0]) == 1  # repeng: len(directions)
        directions, info = read_control_vector(out / f"{name}.gguf")
        assert list(directions) == [layer] and np.array_equal(directions[layer], tensor.numpy())
        assert info["regeo.vector"] == name
        assert info["regeo.llama_cpp_loadable"].startswith("yes" if layer else "no")


def test_several_layers_and_a_foreign_file(tmp_path):
    directions = {3: np.arange(8, dtype=np.float32), 5: -np.arange(8, dtype=np.float32)}
    write_control_vector(tmp_path / "v.gguf", directions, "gpt2")
    read, info = read_control_vector(tmp_path / "v.gguf")
    assert info == {"model_hint": "gpt2", "layer_count": 2}
    assert all(np.array_equal(read[k], v) for k, v in directions.items())
    writer = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 2), dtype=np.float32))
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    with pytest.raises(RegeoInputError, match="not a control vector"):
        read_control_vector(tmp_path / "m.gguf")
