"""The register ranking (regeo.harness.ranking) reads the runs trained on a subset only."""

from __future__ import annotations

import pandas as pd

from regeo.figures.harness import plot_benchmark_ranking
from regeo.harness.ranking import register_ranking


def test_external_runs_are_left_out_of_the_register_ranking():
    """Two trained runs and an external one (evaluated on the same val splits, benchmarked like
    them): the ranking has the trained runs' own-subset loss and proxy, and draws; the external run,
    whose subset is its own name, has no own loss and is not a register."""
    runs = {"ne-tiny-s0": {"subset": "ne", "preset": "tiny", "seed": 0},
            "OP-tiny-s0": {"subset": "OP", "preset": "tiny", "seed": 0},
            "pythia-70m": {"subset": "pythia-70m", "preset": "EleutherAI/pythia-70m", "seed": 0}}
    evaluation = pd.DataFrame([{"run": run, "eval_subset": split, "subset": fields["subset"], "loss": loss}
                               for (run, fields), losses in zip(runs.items(), ([3.0, 4.0], [4.5, 3.5], [2.0, 2.5]))
                               for split, loss in zip(["ne", "OP"], losses)])
    benchmarks = pd.DataFrame([{"model": run, "task": "next_sentence", "metric": "norm_correct_prob", "filter": "none",
                                "source": "proxy", "value": value}
                               for run, value in zip(runs, [0.3, 0.4, 0.6])])
    ranking = register_ranking(benchmarks, evaluation, runs)
    assert set(ranking["run"]) == {"ne-tiny-s0", "OP-tiny-s0"}
    own = ranking[ranking["measure"] == "loss_own"].set_index("run")["value"]
    assert own.to_dict() == {"ne-tiny-s0": 3.0, "OP-tiny-s0": 3.5}
    assert len(plot_benchmark_ranking(ranking).axes) == 2  # one preset, two measures
