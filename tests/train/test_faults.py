"""Faults a long study meets: a process killed mid-write, a damaged or hostile training state,
and a subset that cannot fill its budget, seen through the library and through Snakemake."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from regeo.io import RegeoInputError, load_tensors, save_tensors, write_parquet
from regeo.train.loop import train
from test_train import killed_run, token_files  # noqa: F401  (a fixture)
from train_helpers import micro_config, run_paths


def test_a_writer_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path):
    """SIGKILL while a large table is being written: only a hidden .tmp sibling may remain."""
    target = tmp_path / "table.parquet"
    script = textwrap.dedent(f"""
        import os, signal, pandas as pd
        from regeo import io
        real = pd.DataFrame.to_parquet
        def dying(self, path, *a, **k):
            real(self.head(10), path, *a, **k)  # part of the data is on disk...
            os.kill(os.getpid(), signal.SIGKILL)  # ...when the process dies
        pd.DataFrame.to_parquet = dying
        io.write_parquet(pd.DataFrame({{"x": range(100000)}}), {str(target)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    assert all(p.name.startswith(".table.parquet.") and p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_failing_writer_leaves_nothing(tmp_path):
    target = tmp_path / "table.parquet"
    import pyarrow

    with pytest.raises(pyarrow.ArrowInvalid):  # an object column arrow cannot store
        write_parquet(pd.DataFrame({"x": [object()]}), target)
    assert list(tmp_path.iterdir()) == []


def _killed_state(tmp_path, token_files) -> "Path":
    """A training state as a SIGKILL at step 17 leaves it (saved at step 15)."""
    killed_run("KILL", 17, token_files, tmp_path)
    latest = tmp_path / "state" / "latest"
    assert (latest / "progress.json").is_file()
    return latest


def test_truncated_state_weights_are_named_not_resumed_silently(tmp_path, token_files):
    latest = _killed_state(tmp_path, token_files)
    weights = latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(RegeoInputError, match=f"{weights}: not a readable safetensors file"):
        train(micro_config(), *token_files, **run_paths(tmp_path))
    assert not (tmp_path / "model").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickled_optimizer_state_is_refused_never_unpickled(tmp_path, token_files, monkeypatch):
    """torch.load(weights_only=True) only: a state file carrying code is an error, and the code never runs."""
    latest = _killed_state(tmp_path, token_files)
    (latest / "optimizer.pt").write_bytes(pickle.dumps(_Payload()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegeoInputError, match=f"{latest / 'optimizer.pt'}: unreadable optimizer state"):
        train(micro_config(), *token_files, **run_paths(tmp_path))
    assert not (tmp_path / "pwned").exists()


def test_a_dump_with_a_wrong_header_is_named(tmp_path):
    path = tmp_path / "step0000010.safetensors"
    save_tensors({"input": torch.zeros(4, 2)}, path)
    data = bytearray(path.read_bytes())
    data[8:12] = b"{{{{"  # the JSON header, damaged
    path.write_bytes(bytes(data))
    with pytest.raises(RegeoInputError, match=f"{path}: not a readable safetensors file"):
        load_tensors(path)
