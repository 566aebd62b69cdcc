import pytest

from regeo.train.presets import PRESETS, parameter_count, resolve_preset
from regeo.dumps import dump_name
from regeo.train.schedule import checkpoint_steps


def test_pythia_schedule():
    steps = checkpoint_steps(143_000, 1000)
    assert len(steps) == 154  # Pythia's published checkpoint count
    assert steps[:11] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512] and steps[11] == 1000 and steps[-1] == 143_000


def test_schedule_includes_last_step_and_sorts_by_name():
    steps = checkpoint_steps(95, 20)
    assert steps == [0, 1, 2, 4, 8, 16, 20, 40, 60, 80, 95]
    assert sorted(map(dump_name, steps)) == [dump_name(s) for s in steps]


@pytest.mark.parametrize("name, millions", [("124m", 124), ("llama-1.7b", 1714)])
def test_study_presets_have_their_size(name, millions):
    assert round(parameter_count(resolve_preset(name), 50257) / 1e6) == pytest.approx(millions, abs=2)


def test_preset_override_and_unknown():
    assert resolve_preset("tiny", {"tiny": {"hidden_size": 32}})["hidden_size"] == 32
    assert PRESETS["tiny"]["hidden_size"] == 64
    with pytest.raises(KeyError, match="unknown preset 'huge'"):
        resolve_preset("huge")
