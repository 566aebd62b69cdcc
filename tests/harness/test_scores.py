"""Scores through the real harness: an answer-key model scores 100 %, a tiny random Llama scores
chance on shuffled answers, and the table is what a direct ``lm_eval.simple_evaluate`` gives."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from regeo.config import schema_defaults
from regeo.harness.jobs import build_local_tasks, model_benchmarks
from regeo.harness.local_tasks import LOCAL_TASKS
from regeo.harness.proxies import PROXIES
from regeo.harness.run import load_hf_model, run_harness
from regeo.harness.table import COLUMNS, harness_table
from regeo.tokenizer import load_tokenizer

TASKS = list(LOCAL_TASKS)
SEED = 1234


@register_model("regeo-test-answer-key")
class AnswerKeyLM(LM):
    """A "model" that copies the answer from the task's own answer key: the gold continuation of a
    context gets log-probability 0, every other one -100 per character. It checks the task files
    and the harness's reading of them (gold index, delimiter), not a model."""

    def __init__(self, items: list[dict]):
        super().__init__()
        self.gold = {item["context"]: " " + item["choices"][item["label"]] for item in items}

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        out = []
        for context, continuation in (r.args for r in requests):
            right = self.gold[context] == continuation
            out.append((0.0 if right else -100.0 * len(continuation), right))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError

    def generate_until(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError


def _items(task_dir, name):
    return [json.loads(line) for line in (task_dir / f"{name}.jsonl").read_text().splitlines()]


def _run(lm, task_dir, **kwargs):
    args = dict(include_path=task_dir, num_fewshot=0, limit=None, seed=SEED, bootstrap_iters=1000, offline=True)
    return run_harness(lm, TASKS, **{**args, **kwargs})


def _value(table, task, metric):
    row = table[(table["task"] == task) & (table["metric"] == metric)]
    assert len(row) == 1, (task, metric)
    return row.iloc[0]


def test_a_model_that_copies_the_answer_scores_100_percent(task_dir):
    items = [item for name in TASKS for item in _items(task_dir, name)]
    key = AnswerKeyLM(items)
    assert all(key.gold[item["context"]] == " " + item["choices"][item["label"]] for item in items)
    table = harness_table("answer-key", _run(key, task_dir))
    assert list(table.columns) == COLUMNS
    for name in TASKS:
        for metric in ("acc", "acc_norm"):
            assert _value(table, name, metric)["value"] == 1.0
        assert _value(table, name, "norm_correct_prob")["value"] == pytest.approx(1.0)
        assert _value(table, name, "correct_logprob_per_char")["value"] == 0.0
        # no tokenizer, no tokens: the per-token proxy is not made up
        assert math.isnan(_value(table, name, "correct_logprob_per_token")["value"])


@pytest.fixture(scope="module")
def shuffled_task_dir(task_dir, tmp_path_factory):
    """The local tasks with each item's label redrawn at random: the labelled choice is no longer
    the true next sentence, so no model can beat chance."""
    out = tmp_path_factory.mktemp("shuffled")
    rng = np.random.default_rng(7)
    for name in TASKS:
        items = _items(task_dir, name)
        for item in items:
            item["label"] = int(rng.integers(len(item["choices"])))
        (out / f"{name}.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
        yaml_text = (task_dir / f"{name}.yaml").read_text()
        (out / f"{name}.yaml").write_text(yaml_text.replace(str(task_dir.resolve()), str(out.resolve())))
    return out


def test_a_tiny_random_llama_scores_chance_on_shuffled_answers(model_dirs, shuffled_task_dir):
    torch.set_num_threads(1)
    lm = load_hf_model(*model_dirs, device="cpu", batch_size=32)
    table = harness_table("tiny", _run(lm, shuffled_task_dir))
    for name in TASKS:
        chance = 1 / len(_items(shuffled_task_dir, name)[0]["choices"])
        for metric in ("acc", "acc_norm", "norm_correct_prob"):
            row = _value(table, name, metric)
            assert 0 < row["stderr"] and abs(row["value"] - chance) <= 3 * row["stderr"], (name, metric, row)
        assert _value(table, name, "correct_logprob_per_token")["value"] < 0


@pytest.fixture(scope="module")
def benchmark_table(model_dirs, task_dir, tmp_path_factory):
    """The pipeline's entry point on the schema's harness section (cpu, offline, zero-shot)."""
    out = tmp_path_factory.mktemp("benchmarks")
    params = {k: v for k, v in schema_defaults("harness").items() if k != "local_tasks"}
    params.update(device="cpu", bootstrap_iters=1000)
    table = model_benchmarks(params, "tiny-s0", *model_dirs, task_dir, out / "table.parquet", out / "results.json")
    assert pd.read_parquet(out / "table.parquet").equals(table)
    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == set(TASKS) and "samples" not in results
    return table


def test_the_table_is_what_a_direct_simple_evaluate_gives(benchmark_table, model_dirs, task_dir):
    """The harness rows equal the results of lm_eval.simple_evaluate loading the same saved model
    by path; the proxy rows equal a recomputation from that call's samples with the model's own
    tokenizer, and each logged log-likelihood equals the model's, computed here with torch."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_dir, tokenizer_dir = model_dirs
    direct = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(model_dir), "tokenizer": str(tokenizer_dir)}, tasks=TASKS,
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False), num_fewshot=0,
        batch_size=32, device="cpu", bootstrap_iters=1000, log_samples=True, random_seed=SEED,
        numpy_random_seed=SEED, torch_random_seed=SEED, fewshot_random_seed=SEED)
    table = benchmark_table
    for name in TASKS:
        for metric in ("acc", "acc_norm"):
            row = _value(table, name, metric)
            assert row["value"] == direct["results"][name][f"{metric},none"]
            assert row["stderr"] == direct["results"][name][f"{metric}_stderr,none"]
            assert row["n"] == direct["n-samples"][name]["effective"] == len(_items(task_dir, name))
        expected = _proxies_by_hand(direct["samples"][name], load_tokenizer(tokenizer_dir))
        for metric in PROXIES:
            values = np.array(expected[metric])
            row = _value(table, name, metric)
            assert row["value"] == pytest.approx(values.mean(), rel=1e-9)
            assert row["stderr"] == pytest.approx(values.std(ddof=1) / math.sqrt(len(values)), rel=1e-9)
    assert set(table["lm_eval_version"]) == {direct["lm_eval_version"]}
    assert set(table["source"]) == {"harness", "proxy"} and (table["num_fewshot"] == 0).all()

    model = _model(model_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    for sample in direct["samples"][TASKS[0]][:5]:
        for (context, continuation), (ll, _) in zip(sample["arguments"], sample["filtered_resps"]):
            assert float(ll) == pytest.approx(_loglikelihood(model, tokenizer, context, continuation), abs=1e-4)


def _proxies_by_hand(samples, tokenizer):
    out = {name: [] for name in PROXIES}
    for sample in samples:
        doc = sample["doc"]
        gold = doc["label"]
        lls = np.array([float(ll) for ll, _ in sample["filtered_resps"]])
        chars = np.array([len(choice) for choice in doc["choices"]])
        context = doc["context"]
        whole = tokenizer(context + " " + doc["choices"][gold])["input_ids"]
        tokens = len(whole) - len(tokenizer(context)["input_ids"])
        probs = np.exp(lls / chars) / np.exp(lls / chars).sum()
        out["correct_logprob_per_token"].append(lls[gold] / tokens)
        out["correct_logprob_per_char"].append(lls[gold] / chars[gold])
        out["norm_correct_prob"].append(probs[gold])
    return out


def _model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True).eval()


@torch.no_grad()
def _loglikelihood(model, tokenizer, context, continuation):
    context_ids = tokenizer(context)["input_ids"]
    ids = tokenizer(context + continuation)["input_ids"]
    logits = model(input_ids=torch.tensor([ids])).logits[0]  # (T, V)
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return sum(logprobs[i - 1, ids[i]].item() for i in range(len(context_ids), len(ids)))


def test_digests_follow_the_tasks_content_not_where_it_lives(val_docs, task_dir, tmp_path):
    items = [item for name in TASKS for item in _items(task_dir, name)]
    first = harness_table("key", _run(AnswerKeyLM(items), task_dir))
    spec = json.loads((task_dir / "tasks.json").read_text())["spec"]  # the harness.local_tasks section
    build_local_tasks(spec, TASKS, val_docs, tmp_path / "elsewhere")
    moved = harness_table("key", _run(AnswerKeyLM(items), tmp_path / "elsewhere"))
    digests = ["task_digest", "docs_digest"]
    assert first[digests].equals(moved[digests])
    build_local_tasks(dict(spec, seed=spec["seed"] + 1), TASKS, val_docs, tmp_path / "reseeded")
    items = [item for name in TASKS for item in _items(tmp_path / "reseeded", name)]
    reseeded = harness_table("key", _run(AnswerKeyLM(items), tmp_path / "reseeded"))
    assert not (first["task_digest"] == reseeded["task_digest"]).any()
    assert not (first["docs_digest"] == reseeded["docs_digest"]).any()


def test_a_local_task_without_its_directory_is_refused(model_dirs, tmp_path):
    params = {k: v for k, v in schema_defaults("harness").items() if k != "local_tasks"}
    with pytest.raises(ValueError, match="no task directory"):
        model_benchmarks(params, "tiny", *model_dirs, None, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_a_group_gets_the_harness_aggregate_and_proxies_pooled_over_its_tasks(task_dir, tmp_path):
    """As for mmlu_continuation: the group's rows beside its tasks', its proxies over all their documents."""
    for name in TASKS:
        shutil.copy(task_dir / f"{name}.yaml", tmp_path / f"{name}.yaml")
    group = {"group": "regeo_next_sentence", "task": TASKS,
             "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}], "metadata": {"version": 1}}
    (tmp_path / "group.yaml").write_text(yaml.safe_dump(group))
    items = [item for name in TASKS for item in _items(task_dir, name)]
    run = run_harness(AnswerKeyLM(items), ["regeo_next_sentence"], tmp_path, 0, None, SEED, 1000, True)
    table = harness_table("key", run)
    assert set(table["task"]) == {"regeo_next_sentence", *TASKS}
    row = _value(table, "regeo_next_sentence", "acc")
    assert row["value"] == 1.0 and row["n"] == len(items)
    pooled = _value(table, "regeo_next_sentence", "correct_logprob_per_char")
    assert pooled["n"] == len(items) and pooled["source"] == "proxy"
    assert pooled["task_digest"] not in set(table.loc[table["task"] != "regeo_next_sentence", "task_digest"])
