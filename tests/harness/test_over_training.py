"""Benchmarks over training (issue 30): a step model's table, the table over steps and its figure,
on tiny Llamas saved as a run saves its step models (revisioned stand-ins: one per step)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from regeo.config import schema_defaults
from regeo.dumps import step_model_name
from regeo.harness.jobs import model_benchmarks
from regeo.harness.over_training import curves, over_training_table
from regeo.io import read_parquet
from regeo.stages.harness import benchmarks_over_training
from tiny_models import tiny_llama

RUNS = {"ne-tiny-s0": {"subset": "ne", "preset": "tiny", "seed": 0},
        "SP-tiny-s0": {"subset": "SP", "preset": "tiny", "seed": 0}}
STEPS = (0, 10)
FINAL = 20


@pytest.fixture(scope="module")
def saved(small_tokenizer, task_dir, tmp_path_factory):
    """Step models (0, 10) and a final model (20) of two runs, each step another random Llama,
    and their harness tables from the pipeline's entry point."""
    root = tmp_path_factory.mktemp("over_training")
    small_tokenizer.save_pretrained(root / "tokenizer")
    params = {k: v for k, v in schema_defaults("harness").items() if k != "local_tasks"}
    params.update(device="cpu", bootstrap_iters=0, threads=1)
    step_tables, finals = [], {}
    for i, run in enumerate(RUNS):
        for step in (*STEPS, FINAL):
            model = tiny_llama(len(small_tokenizer), seed=100 * i + step)
            model.config.max_position_embeddings = 128
            final = step == FINAL
            model_dir = root / run / ("model" if final else f"models/{step_model_name(step)}")
            model.save_pretrained(model_dir)
            out = root / "harness" / (f"{run}.parquet" if final else f"steps/{run}/{step_model_name(step)}.parquet")
            model_benchmarks(params, run, model_dir, root / "tokenizer", task_dir, out, step=None if final else step)
            (finals.__setitem__(run, str(out)) if final else step_tables.append(str(out)))
    return root, step_tables, finals, params


def test_a_step_table_is_the_final_models_table_with_its_step(saved, task_dir):
    root, step_tables, _, params = saved
    table = read_parquet(step_tables[1])
    assert (table["step"] == 10).all() and (table["model"] == "ne-tiny-s0").all()
    again = model_benchmarks(params, "ne-tiny-s0", root / "ne-tiny-s0" / "models" / step_model_name(10),
                             root / "tokenizer", task_dir, root / "again.parquet")
    pd.testing.assert_frame_equal(table.drop(columns="step"), again)


def test_the_table_over_training_and_its_figure(saved, tmp_path):
    _, step_tables, finals, _ = saved
    out = {"table": tmp_path / "over.parquet", "pdf": tmp_path / "f.pdf", "png": tmp_path / "f.png"}
    torch.set_num_threads(1)
    benchmarks_over_training(step_tables, finals, RUNS, {run: FINAL for run in RUNS}, out, 80)
    table = read_parquet(out["table"])
    assert sorted(set(zip(table["model"], table["step"]))) == sorted((r, s) for r in RUNS for s in (*STEPS, FINAL))
    assert set(table.loc[table["final"], "step"]) == {FINAL} and set(table["subset"]) == {"ne", "SP"}
    final = table[(table["model"] == "SP-tiny-s0") & table["final"]].drop(columns=["step", "final", "subset", "preset",
                                                                                   "seed"])
    keys = ["task", "filter", "metric", "source"]
    pd.testing.assert_frame_equal(final.sort_values(keys).reset_index(drop=True),
                                  read_parquet(finals["SP-tiny-s0"]).sort_values(keys).reset_index(drop=True))
    drawn = curves(table)
    assert set(drawn["metric"]) == {"norm_correct_prob", "acc"}
    assert (drawn.loc[drawn["metric"] == "norm_correct_prob", "source"] == "proxy").all()
    assert (drawn.loc[drawn["metric"] == "acc", "source"] == "harness").all()
    assert out["png"].stat().st_size > 0


def test_a_step_saved_at_the_last_step_is_the_final_model_once():
    row = pd.DataFrame({"model": ["a"], "task": ["t"], "metric": ["acc"], "value": [0.5]})
    table = over_training_table({("a", 0): row, ("a", 20): row}, {"a": row}, {"a": 20},
                                {"a": {"subset": "ne", "preset": "tiny", "seed": 0}})
    assert table["step"].tolist() == [0, 20] and table["final"].tolist() == [False, True]
