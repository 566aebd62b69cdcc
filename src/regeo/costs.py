"""Predicted runtime and memory of every heavy job, from the work the config gives it.

A job's time is ``fixed + per_item x items + work``: the fixed part (interpreter, imports, reading
inputs, the Python overhead of each dump or model) is what the default's tiny jobs measure, the
work part (kNN, Gram matrices, forward passes) is what the paper's large ones are made of. Every
per-unit constant below is a measurement of ``docs/benchmarks.md`` (section named beside it) on
the 2-core AMD EPYC of these sessions; the GPU constants are **assumed**, not measured (no GPU
has been lent to measure them), and deliberately conservative. A rule's declared runtime is
``SAFETY`` times the prediction, never under ``MIN_RUNTIME_MINUTES``, times the attempt.

The same numbers split work into jobs that fit ``resources.max_job_minutes`` (:func:`batches`)
and feed ``regeo cost`` (:func:`cost_report`). Torch-free: the workflow plans with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from regeo.external import local_shape
from regeo.resources import (ASSUMED_FLOPS_PER_GPU, harness_mem_mb, steering_judge_mem_mb, steering_mem_mb,
                             train_mem_mb, train_runtime_minutes)
from regeo.runs import external_runs, runs as trained_runs, steering_pairs, subset_names, vocab_size
from regeo.train.presets import parameter_count, resolve_preset
from regeo.train.schedule import checkpoint_steps

# Declared runtime = SAFETY x predicted. tests/pipeline/test_end_to_end.py holds every heavy job's
# CPU time within SAFETY of its prediction either way (measured 0.54-1.46x, docs/benchmarks.md,
# "The cost model against the jobs"), so the declaration covers the job with room for a slower
# node: the same 2-core guest ran the same code up to 1.8x slower on another day ("Default
# pipeline").
SAFETY = 3.0
# No declaration under this: a job that takes seconds still waits for a node, imports and reads.
MIN_RUNTIME_MINUTES = 10

# Reference shape of the geometry measurements: one 124m matrix of GPT-2's vocabulary.
REF_N, REF_D = 50_000, 768
# The ID table of one matrix (MLE at three k, both TwoNN forms, local PCA, Gride, isotropic and
# covariance nulls, intervals) at 50,000 x 768: "about 0.9 min a dump" ("Issue 27's nulls and
# curves at the paper's size"); it grew as n^1.3 from 10,000 to 20,000 rows there.
ID_TABLE_S = 54.0
ID_N_EXPONENT = 1.3
# The mixture null of one final matrix and metric: "about 2.3 min" at 50,000 x 768 (same section),
# its fit on a sample of at most MIXTURE_SAMPLE rows (so it grows little above it; 32.8 s at
# 10,000 rows there) and the null's own ID table.
MIXTURE_NULL_S = 138.0
MIXTURE_SAMPLE = 10_000
# The property suite once (every property, no nulls) 4.6 s and one bootstrap replicate 0.41 s at
# 50,000 x 768 on one OpenBLAS thread ("Issue 29's property suite at the paper's size"); both are
# d x d Grams of the rows, n d^2.
PROPERTY_SUITE_S = 4.6
PROPERTY_REPLICATE_S = 0.41
# The exact kNN and LLE weights of one matrix at k = 10: 10.5 s at 50,000 x 768 ("Geometry", the
# LLE row); the kNN grows as n^2 d.
LLE_MATRIX_S = 10.5
# The float32 GEMM rate of the same machine, 179 GFLOP/s ("Geometry"); the similarity measures
# work in float64 (half that rate assumed: not measured).
FLOAT64_FLOPS_CPU = 179e9 / 2
# Forward passes on the CPU, 2 N FLOPs a token (N without the input embedding, a lookup): the
# trainer's step reached 74 GFLOP/s (6 N a token) for tiny (README, "Cost"); forward passes alone
# are taken at the same rate, which the default's steering jobs bear out (docs/benchmarks.md).
FORWARD_FLOPS_CPU = 74e9
# Assumed, not measured: a GPU runs the geometry (float32/bfloat16 products, torch on CUDA) this
# many times faster than the 2 CPU cores. An H100's float32 peak is ~370x the 179 GFLOP/s above;
# 10x leaves room for the host-side float64 row loops and copies that stay on the CPU.
GEOMETRY_GPU_SPEEDUP = 10.0
# Assumed: inference on a GPU at a quarter of training's assumed rate (regeo.resources): small
# batches and fp32 forward passes.
FORWARD_FLOPS_GPU = ASSUMED_FLOPS_PER_GPU / 4
# A GPU is asked for only when a rule's largest job would take longer than this on the CPU:
# below it, the wait for a GPU node costs more than it saves.
GPU_WORTH_CPU_MINUTES = 30.0

# Fixed costs, CPU seconds, calibrated on the default config's and the test config's benchmark
# files (cpu_time; docs/benchmarks.md, "The cost model against the benchmark files"): a job's
# start (interpreter, torch and pandas imports, inputs read) and the Python overhead of each dump,
# model or pair that tiny matrices leave visible.
START_S = {"id_dynamics": 2.0, "id_comparison": 5.0, "properties": 2.0, "similarity_over_training": 2.0,
           "global_similarity": 2.0, "lle_comparison": 2.0, "evaluate": 4.0, "harness": 6.0, "steering": 8.0,
           "neighbourhoods": 3.0, "rank_knee": 6.0, "properties_comparison": 2.0, "steering_judge": 8.0}
PER_DUMP_S = {"properties": 0.01, "similarity_over_training": 0.005, "neighbourhoods": 0.01}
# neighbourhoods' end-of-run work per final row (low/high-ID groups, matched-noise nulls, coherence
# intervals): fit with the per-dump cost on the test config (4 models x 7 dumps), the default (11
# x 11, 2,048 rows) and the paper's shape (43 x 154, 512 rows), 7.8, 71 and 127 CPU seconds.
NEIGHBOURHOOD_ROW_S = 2.7e-3
PER_MODEL_S = {"id_comparison": 0.1, "evaluate": 0.3, "harness": 2.0, "rank_knee": 0.05, "properties_comparison": 0.3}
PER_PAIR_S = {"global_similarity": 0.1, "lle_comparison": 0.3, "steering": 0.0}
# The ID table's per-row work outside the kNN (the bootstrap's resamples of per-point estimates,
# the nulls' draws): it dominates below a few thousand rows, where the kNN takes milliseconds.
# Calibrated on the default's id_dynamics (2,048 rows: 0.4 s a table of 200 replicates).
ID_ROW_S = 2e-4

# Base host memory of an analysis job (interpreter, torch, pandas): the property table at
# 50,000 x 768 peaked at 1.93 GiB in all ("Issue 29's property suite"), the kNN steps at 1.16 GiB.
ANALYSIS_BASE_MB = 2048
# Host copies of one analysed matrix a job may hold at once (float32 and float64 views, nulls,
# unit rows): 16 x 147 MB at 50,000 x 768, over the ~1 GB measured above that.
MATRIX_COPIES = 16

# A hub model's shape is not in the config and planning is offline: assumed at Pythia-410m's scale
# and untied, over the paper's Pythia-160m (50,277 x 768, untied, 162 M parameters); a larger hub
# model needs a larger resources.max_job_minutes or --set-resources. A local checkpoint directory
# is read instead (regeo.external.local_shape).
EXTERNAL_ROWS, EXTERNAL_WIDTH, EXTERNAL_PARAMS = 65_536, 1024, 500_000_000
# Tokens of a benchmark request (context and one choice) and documents of a hub task (the paper's
# largest, MMLU and HellaSwag, have 14,042 and 10,042): assumed upper bounds.
REQUEST_TOKENS = 256
HUB_TASK_DOCS = 15_000
CHOICES = 4
# The register classifier a judge may load (XLM-RoBERTa-large, regeo.resources.CLASSIFIER_MEM_MB).
CLASSIFIER_PARAMS = 560_000_000

# Rules whose heavy part has a CUDA path (the exact kNN under the ID, LLE and neighbourhood
# tables; the models' forward passes): these may ask for a GPU. The property suite, the
# similarity measures and the mixture null's fit are NumPy or CPU torch: a GPU would idle.
CUDA_RULES = ("id_dynamics", "id_comparison", "lle_comparison", "neighbourhoods", "evaluate", "rank_knee")


@dataclass(frozen=True)
class ResourceLimits:
    """The config's ``resources`` section (its defaults are the schema's): read by the workflow's
    planning only, never a rule's params."""

    max_job_minutes: int  # no job declares more
    analysis_gpu: bool  # large analysis rules ask for a GPU and are sized at its rates

    @classmethod
    def from_section(cls, section: dict) -> "ResourceLimits":
        from regeo.params import section_fields

        return cls(**section_fields(cls, section, "resources"))


@dataclass(frozen=True)
class Model:
    """What a job's cost depends on of one run: its matrices' shape, dumps and parameters."""

    rows: int
    width: int
    untied: bool
    dumps: int
    params: int

    @property
    def forward_params(self) -> int:
        """Parameters a token's forward pass multiplies by: all but an untied input embedding."""
        return self.params - (self.rows * self.width if self.untied else 0)


@dataclass(frozen=True)
class Job:
    rule: str
    name: str  # the job's wildcards, or the rule's name
    seconds: float  # predicted, before SAFETY
    mem_mb: int
    gpu: bool
    declared: int | None = None  # minutes, where the rule sizes itself (training: regeo.resources)

    @property
    def runtime(self) -> int:
        """Declared minutes (first attempt)."""
        return declared_minutes(self.seconds) if self.declared is None else self.declared


def declared_minutes(seconds: float, attempt: int = 1) -> int:
    return int(max(MIN_RUNTIME_MINUTES, math.ceil(SAFETY * seconds / 60)) * attempt)


def models(cfg: dict) -> dict[str, Model]:
    """run -> its Model, trained runs first, in the workflow's order (common.smk's RUNS)."""
    vocab = vocab_size(cfg)
    t = cfg["training"]
    dumps = len(checkpoint_steps(t["steps"], t["checkpoint_every"]))
    out = {}
    for name, run in trained_runs(cfg).items():
        fields = resolve_preset(run.preset, t["presets"])
        out[name] = Model(vocab, fields["hidden_size"], not fields.get("tie_word_embeddings"), dumps,
                          parameter_count(fields, vocab))
    for name, run in external_runs(cfg).items():
        shape = local_shape(run)
        out[name] = (Model(EXTERNAL_ROWS, EXTERNAL_WIDTH, True, len(run.steps), EXTERNAL_PARAMS) if shape is None
                     else Model(shape.rows, shape.width, shape.untied, len(run.steps), shape.params))
    return out


def _matrices(embeddings, *untied: bool) -> int:
    """Matrices compared: output only where some model has its own (regeo.pairs.compared_matrices)."""
    return sum(1 for which in embeddings if which == "input" or any(untied))


def _id_s(n: int, d: int, replicates: int = 200) -> float:
    return ID_TABLE_S * (n / REF_N) ** ID_N_EXPONENT * (d / REF_D) + ID_ROW_S * n * replicates / 200


def _gram_s(n: int, d: int) -> float:
    return 2 * n * d * d / FLOAT64_FLOPS_CPU


def _knn_s(n: int, d: int) -> float:
    return LLE_MATRIX_S * (n / REF_N) ** 2 * (d / REF_D)


def _suite_s(n: int, d: int) -> float:
    return (n / REF_N) * (d / REF_D) ** 2


class Costs:
    """Every heavy job of one validated config, its predicted seconds and memory."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.models = models(cfg)
        limits = ResourceLimits.from_section(cfg["resources"])
        self.max_minutes = limits.max_job_minutes
        self.analysis_gpu = limits.analysis_gpu
        self.gpu_rules = {rule for rule in CUDA_RULES
                          if self.analysis_gpu and self._largest_cpu_item(rule) / 60 > GPU_WORTH_CPU_MINUTES}
        if self.analysis_gpu:
            self.gpu_rules |= {"harness", "steering", "steering_judge"}

    # -- the work of one item (a run, a model, a pair), in CPU seconds or on the rule's device --

    def _on(self, rule: str, geometry_s: float = 0.0, flops: float = 0.0) -> float:
        gpu = rule in getattr(self, "gpu_rules", ())
        return (geometry_s / (GEOMETRY_GPU_SPEEDUP if gpu else 1.0)
                + flops / (FORWARD_FLOPS_GPU if gpu else FORWARD_FLOPS_CPU))

    def _id_embeddings(self, m: Model) -> int:
        return _matrices(self.cfg["geometry"]["id"]["embeddings"], m.untied)

    def id_dynamics_s(self, run: str) -> float:
        m, g = self.models[run], self.cfg["geometry"]["id"]
        nulls = (1 + len([x for x in g["nulls"] if x != "mixture"])) / 3  # the measurement had two
        replicates = self.cfg["geometry"]["bootstrap"]["replicates"]
        work = m.dumps * self._id_embeddings(m) * len(g["metrics"]) * _id_s(m.rows, m.width, replicates) * nulls
        return START_S["id_dynamics"] + self._on("id_dynamics", work)

    def properties_s(self, run: str) -> float:
        m, p = self.models[run], self.cfg["geometry"]["properties"]
        replicates = self.cfg["geometry"]["bootstrap"]["replicates"]
        with_interval = 1 if p["interval_dumps"] == "final" else m.dumps
        per_matrix = (m.dumps * (1 + len(p["nulls"])) * PROPERTY_SUITE_S
                      + with_interval * replicates * PROPERTY_REPLICATE_S) * _suite_s(m.rows, m.width)
        return (START_S["properties"] + PER_DUMP_S["properties"] * m.dumps
                + self._on("properties", self._id_embeddings(m) * per_matrix))

    def similarity_over_training_s(self, run: str) -> float:
        m = self.models[run]
        mats = _matrices(self.cfg["geometry"]["similarity"]["embeddings"], m.untied)
        # each measure: six d x d Grams (cosine correlation and CKA); the first-order interval ~3x more
        work = m.dumps * mats * 4 * 6 * _gram_s(m.rows, m.width)
        return (START_S["similarity_over_training"] + PER_DUMP_S["similarity_over_training"] * m.dumps
                + self._on("similarity_over_training", work))

    def id_comparison_s(self) -> float:
        g = self.cfg["geometry"]["id"]
        tables = fits = 0.0
        for m in self.models.values():
            runs = self._id_embeddings(m) * len(g["comparison_metrics"])
            nulls = (1 + len([x for x in g["comparison_nulls"] if x != "mixture"])) / 3
            strata = g["frequency_bins"] * _id_s(m.rows // max(1, g["frequency_bins"]), m.width)
            tables += runs * (_id_s(m.rows, m.width) * nulls + strata)
            if "mixture" in g["comparison_nulls"]:  # its fit (NumPy, on the host) and its ID table
                fits += runs * (MIXTURE_NULL_S - ID_TABLE_S) * (m.width / REF_D) * (
                    min(m.rows, MIXTURE_SAMPLE) / MIXTURE_SAMPLE) ** ID_N_EXPONENT
                tables += runs * _id_s(m.rows, m.width)
        return (START_S["id_comparison"] + PER_MODEL_S["id_comparison"] * len(self.models) + fits
                + self._on("id_comparison", tables))

    def pairs(self) -> list[tuple[str, str]]:
        """Unordered pairs of final models, a before b in run order (regeo.pairs.final_model_pairs)."""
        return list(combinations(self.models, 2))

    def _readings(self) -> int:
        """The raw rows and each postprocessing the pair tables compute (regeo.stages.cross_model)."""
        return 1 + len(self.cfg["geometry"]["postprocess"]["methods"])

    def global_similarity_pair_s(self, a: str, b: str) -> float:
        ma, mb = self.models[a], self.models[b]
        n, d = min(ma.rows, mb.rows), max(ma.width, mb.width)
        mats = _matrices(self.cfg["geometry"]["similarity"]["embeddings"], ma.untied, mb.untied)
        # value, first-order interval (~3), permuted null, at init: ~6 evaluations of six Grams, for
        # the raw rows and each postprocessing (geometry.postprocess.methods)
        work = self._readings() * mats * 6 * 6 * _gram_s(n, d)
        return PER_PAIR_S["global_similarity"] + self._on("global_similarity", work)

    def lle_pair_s(self, a: str, b: str) -> float:
        ma, mb = self.models[a], self.models[b]
        n = min(ma.rows, mb.rows)
        size = self.cfg["geometry"]["lle"]["sample_size"]
        n = n if size is None else min(n, size)
        mats = _matrices(self.cfg["geometry"]["lle"]["embeddings"], ma.untied, mb.untied)
        # both models' kNN and weights; errors, the permuted null and intervals assumed one more; the
        # raw rows and each postprocessing redo all of it
        work = self._readings() * mats * 1.5 * (_knn_s(n, ma.width) + _knn_s(n, mb.width))
        return PER_PAIR_S["lle_comparison"] + self._on("lle_comparison", work)

    def _eval_tokens(self) -> int:
        e, t = self.cfg["evaluation"], self.cfg["training"]
        per_split = self.cfg["subsets"]["val_tokens"]
        if e["max_batches"] is not None:
            per_split = min(per_split, e["max_batches"] * e["batch_size"] * t["seq_len"])
        return per_split * len(subset_names(self.cfg))

    def evaluate_model_s(self, run: str) -> float:
        m = self.models[run]
        return PER_MODEL_S["evaluate"] + self._on("evaluate", flops=2 * m.forward_params * self._eval_tokens())

    def _harness_requests(self) -> int:
        h = self.cfg["harness"]
        n = 0
        for task in h["tasks"]:
            if task.startswith("regeo_"):
                docs = h["local_tasks"]["items_per_subset"] * len(subset_names(self.cfg))
                choices = h["local_tasks"]["n_choices"]
            else:
                docs, choices = HUB_TASK_DOCS, CHOICES
            n += (docs if h["limit"] is None else min(docs, h["limit"])) * choices
        return n

    def harness_model_s(self, run: str) -> float:
        m = self.models[run]
        tokens = self._harness_requests() * min(REQUEST_TOKENS, self.cfg["training"]["seq_len"])
        return PER_MODEL_S["harness"] + self._on("harness", flops=2 * m.forward_params * tokens)

    def steering_pair_s(self, source: str, target: str, settings: dict) -> float:
        # The sweeps run in B: each further vector method (steering.methods) sweeps B's own vector
        # and the default map's transfer again (two of the four conditions); the layer sweep is one
        # first-order pass (forward and backward, ~3 forwards) per condition and depth. A reads the
        # concept's texts once per method for its vector.
        extra_methods = max(0, len(settings.get("methods", ["mean_difference"])) - 1)
        sweep = settings.get("sweep_depths", [])
        passes = (len(settings["alphas"]) * (4 + len(settings["map_variants"]) + settings["kl_null_draws"])
                  * (1 + 0.5 * extra_methods)
                  + 3 * 2 * len(sweep) * (1 + extra_methods)
                  + settings["n_generate"] * settings["max_new_tokens"])
        text_tokens = len(settings["concepts"]) * 2 * settings["texts_per_side"] * settings["max_length"]
        flops = 2 * (self.models[target].forward_params * passes * text_tokens
                     + self.models[source].forward_params * (1 + extra_methods) * text_tokens)
        return START_S["steering"] + PER_PAIR_S["steering"] + self._on("steering", flops=flops)

    def properties_comparison_s(self) -> float:
        """Every final model's property suite with nulls and interval on the common tokens (at most a
        model's rows: the prediction errs high), one matrix at a time."""
        p = self.cfg["geometry"]["properties"]
        replicates = self.cfg["geometry"]["bootstrap"]["replicates"]
        work = sum(self._id_embeddings(m) * ((1 + len(p["nulls"])) * PROPERTY_SUITE_S + replicates * PROPERTY_REPLICATE_S)
                   * _suite_s(m.rows, m.width) for m in self.models.values())
        return (START_S["properties_comparison"] + PER_MODEL_S["properties_comparison"] * len(self.models)
                + self._on("properties_comparison", work))

    def steering_judge_s(self, target: str, judge: dict) -> float:
        """Per concept, judged vector and alpha (and alpha 0): greedy generation from each prompt (a
        full forward pass per new token, no cache assumed), the unsteered model's loss of the
        generations, the held-out passages' loss with the vector, and the classifier's pass over
        the generations where it judges; the target's forward passes, on the GPU the rule asks for."""
        settings = judge["judge"]
        conditions = len(self.cfg["steering"]["concepts"]) * len(settings["vectors"]) * (1 + len(settings["alphas"]))
        length = judge["prompt_tokens"] + settings["max_new_tokens"]
        tokens = conditions * settings["n_prompts"] * (settings["max_new_tokens"] * length + length
                                                        + judge["max_length"])
        flops = 2 * self.models[target].forward_params * tokens
        if settings["judge"] == "classifier":
            flops += 2 * CLASSIFIER_PARAMS * conditions * settings["n_prompts"] * length
        return START_S["steering_judge"] + self._on("steering_judge", flops=flops)

    def neighbourhoods_s(self) -> float:
        """Each dump: a cosine kNN and its Jaccard with the final dump's, with a bootstrap interval;
        each final model: the low/high-ID groups, their matched-noise nulls and coherence intervals,
        which grow with its rows (host work)."""
        k = 0.0
        for m in self.models.values():
            k += m.dumps * _knn_s(min(m.rows, REF_N), m.width)
        dumps = sum(m.dumps for m in self.models.values())
        final_rows = sum(m.rows for m in self.models.values())
        return (START_S["neighbourhoods"] + PER_DUMP_S["neighbourhoods"] * dumps
                + NEIGHBOURHOOD_ROW_S * final_rows + self._on("neighbourhoods", k))

    def rank_knee_s(self) -> float:
        r, t = self.cfg["analyses"]["rank_knee"], self.cfg["training"]
        ranks = len(r["ranks"]) if r["ranks"] else 13  # the default grid (regeo.analyses.rank_knee)
        tokens = r["max_batches"] * r["batch_size"] * t["seq_len"] * len(subset_names(self.cfg))
        trained = [self.models[name] for name in trained_runs(self.cfg)]
        flops = sum(2 * m.forward_params * tokens * ranks for m in trained)
        return START_S["rank_knee"] + PER_MODEL_S["rank_knee"] * len(trained) + self._on("rank_knee", flops=flops)

    def _largest_cpu_item(self, rule: str) -> float:
        """CPU seconds of the rule's largest unsplittable piece of work, to decide on a GPU."""
        saved, self.gpu_rules = getattr(self, "gpu_rules", set()), set()
        try:
            one = {
                "id_dynamics": lambda: max((self.id_dynamics_s(r) for r in self.models), default=0),
                "properties": lambda: max((self.properties_s(r) for r in self.models), default=0),
                "similarity_over_training": lambda: max((self.similarity_over_training_s(r) for r in self.models),
                                                        default=0),
                "id_comparison": self.id_comparison_s,
                "global_similarity": lambda: sum(self.global_similarity_pair_s(*p) for p in self.pairs()),
                "lle_comparison": lambda: sum(self.lle_pair_s(*p) for p in self.pairs()),
                "neighbourhoods": self.neighbourhoods_s,
                "evaluate": lambda: sum(self.evaluate_model_s(r) for r in self.models),
                "rank_knee": self.rank_knee_s,
            }[rule]
            return one()
        finally:
            self.gpu_rules = saved

    # -- memory --

    def _matrix_mb(self, m: Model) -> float:
        return m.rows * m.width * 4 / 2**20

    def analysis_mem_mb(self, runs: list[str], attempt: int = 1) -> int:
        """An analysis job that holds the matrices of ``runs`` at once (one run, or a pair)."""
        held = sum(self._matrix_mb(self.models[r]) for r in runs)
        return int(math.ceil(ANALYSIS_BASE_MB + MATRIX_COPIES * held) * attempt)

    def _model_mem(self, run: str) -> dict | None:
        t = self.cfg["training"]
        named = trained_runs(self.cfg)
        return resolve_preset(named[run].preset, t["presets"]) if run in named else None

    def evaluate_mem_mb(self, runs: list[str], attempt: int = 1) -> int:
        """One model at a time: the harness's memory formula at evaluation's batch (regeo.resources)."""
        e, t = self.cfg["evaluation"], self.cfg["training"]
        return max(harness_mem_mb(self._model_mem(r), vocab_size(self.cfg), e["batch_size"], t["seq_len"],
                                  attempt=attempt) for r in runs)

    def harness_mem_mb(self, runs: list[str], attempt: int = 1) -> int:
        h, t = self.cfg["harness"], self.cfg["training"]
        return max(harness_mem_mb(self._model_mem(r), vocab_size(self.cfg), h["batch_size"], t["seq_len"],
                                  attempt=attempt) for r in runs)

    # -- splitting and the plan --

    def _fits(self, seconds: float) -> bool:
        return declared_minutes(seconds) <= self.max_minutes

    def batches(self, start: float, items: list, item_s) -> list[list]:
        """``items`` in order, cut into consecutive blocks whose declared runtime (``start`` plus
        their seconds) fits resources.max_job_minutes; an item over the limit alone is a block of
        its own (nothing smaller exists: the report shows it)."""
        blocks: list[list] = []
        current: list = []
        total = start
        for item in items:
            cost = item_s(item)
            if current and not self._fits(total + cost):
                blocks.append(current)
                current, total = [], start
            current.append(item)
            total += cost
        if current:
            blocks.append(current)
        return blocks

    def evaluate_batches(self) -> dict[str, list[str]]:
        return _named(self.batches(START_S["evaluate"], list(self.models), self.evaluate_model_s))

    def harness_batches(self) -> dict[str, list[str]]:
        return _named(self.batches(START_S["harness"], list(self.models), self.harness_model_s))

    def global_similarity_blocks(self) -> dict[str, list[tuple[str, str]]]:
        return _named(self.batches(START_S["global_similarity"], self.pairs(),
                                   lambda p: self.global_similarity_pair_s(*p)))

    def lle_blocks(self) -> dict[str, list[tuple[str, str]]]:
        return _named(self.batches(START_S["lle_comparison"], self.pairs(), lambda p: self.lle_pair_s(*p)))

    def jobs(self) -> list[Job]:
        """Every heavy job of the config with its predicted seconds, memory and GPU."""
        from regeo.steering.config import pair_job_params
        from regeo.steering.judge_config import judge_job_params

        cfg = self.cfg
        out: list[Job] = []
        gpu = self.gpu_rules.__contains__
        t = cfg["training"]
        vocab = vocab_size(cfg)
        for name, run in trained_runs(cfg).items():
            fields = resolve_preset(run.preset, t["presets"])
            flops = 6 * parameter_count(fields, vocab) * t["steps"] * t["batch_size"] * t["seq_len"]
            out.append(Job("train", name, flops / ASSUMED_FLOPS_PER_GPU, train_mem_mb(fields, vocab), True,
                           self.train_minutes(fields)))
        for run in self.models:
            for rule, seconds in (("id_dynamics", self.id_dynamics_s(run)), ("properties", self.properties_s(run)),
                                  ("similarity_over_training", self.similarity_over_training_s(run))):
                out.append(Job(rule, run, seconds, self.analysis_mem_mb([run]), gpu(rule)))
        out.append(Job("id_comparison", "id_comparison", self.id_comparison_s(),
                       self.analysis_mem_mb(list(self.models)[:1]), gpu("id_comparison")))
        for rule, blocks, pair_s in (("global_similarity", self.global_similarity_blocks(),
                                      self.global_similarity_pair_s),
                                     ("lle_comparison", self.lle_blocks(), self.lle_pair_s)):
            for name, block in blocks.items():
                largest = max(block, key=lambda p: self.models[p[0]].rows * self.models[p[0]].width)
                out.append(Job(rule, name, START_S[rule] + sum(pair_s(*p) for p in block),
                               self.analysis_mem_mb(list(largest)), gpu(rule)))
        for name, batch in self.evaluate_batches().items():
            out.append(Job("evaluate", name, START_S["evaluate"] + sum(map(self.evaluate_model_s, batch)),
                           self.evaluate_mem_mb(batch), gpu("evaluate")))
        for name, batch in self.harness_batches().items():
            out.append(Job("harness", name, START_S["harness"] + sum(map(self.harness_model_s, batch)),
                           self.harness_mem_mb(batch), True))
        settings = _pair_settings(cfg)
        for source, target in steering_pairs(cfg):
            s = pair_job_params(cfg["steering"], settings.get((source, target)))
            out.append(Job("steering", f"{source}__{target}", self.steering_pair_s(source, target, s),
                           steering_mem_mb([self._model_mem(source), self._model_mem(target)], vocab,
                                           s["batch_size"], s["max_length"]), True))
            judge = judge_job_params({**s, "judge": cfg["steering"]["judge"]})  # rule_params.steering_judge_params
            out.append(Job("steering_judge", f"{source}__{target}", self.steering_judge_s(target, judge),
                           steering_judge_mem_mb(self._model_mem(target), vocab, judge["batch_size"],
                                                 judge["max_length"], judge["judge"]["judge"] == "classifier"),
                           True))
        all_runs = list(self.models)
        out.append(Job("properties_comparison", "properties_comparison", self.properties_comparison_s(),
                       self.analysis_mem_mb(all_runs[:1]), gpu("properties_comparison")))
        out.append(Job("neighbourhoods", "neighbourhoods", self.neighbourhoods_s(),
                       self.analysis_mem_mb(all_runs[:1]), gpu("neighbourhoods")))
        if trained_runs(cfg):
            out.append(Job("rank_knee", "rank_knee", self.rank_knee_s(),
                           self.evaluate_mem_mb(list(trained_runs(cfg))), True))
        return out


    def train_minutes(self, model: dict, attempt: int = 1) -> int:
        """A training job's declared minutes: regeo.resources' estimate, at most
        resources.max_job_minutes, since training saves its state at SIGTERM before the limit and
        the retry resumes from it (profiles/slurm: retries with a longer limit)."""
        t = self.cfg["training"]
        minutes = train_runtime_minutes(model, vocab_size(self.cfg), t["steps"], t["batch_size"], t["seq_len"],
                                        attempt=attempt)
        return min(minutes, self.max_minutes * attempt)

    def over_limit(self) -> list[Job]:
        """Jobs that declare more than resources.max_job_minutes: one model or pair each, which no
        split makes smaller."""
        return [job for job in self.jobs() if job.runtime > self.max_minutes]

    def index(self) -> dict[tuple[str, str], Job]:
        """(rule, job name) -> Job: the name is the run, the batch or block, ``source__target`` of a
        steering pair, or the rule's own for a single job."""
        return {(job.rule, job.name): job for job in self.jobs()}


def _pair_settings(cfg: dict) -> dict:
    from regeo.runs import steering_pair_settings

    return steering_pair_settings(cfg)


def _named(blocks: list[list]) -> dict[str, list]:
    """Blocks named by their position, the batch wildcard: 000, 001, ..."""
    return {f"{i:03d}": block for i, block in enumerate(blocks)}


def cost_report(cfg: dict) -> str:
    """Per rule: jobs, predicted CPU and GPU hours, the largest job (predicted and declared), and
    the total, as a Markdown table (README, "Running the full study")."""
    costs = Costs(cfg)
    by_rule: dict[str, list[Job]] = {}
    for job in costs.jobs():
        by_rule.setdefault(job.rule, []).append(job)
    lines = ["| rule | jobs | CPU hours | GPU hours | largest job | its declared runtime | its memory |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    cpu_total = gpu_total = 0.0
    for rule, jobs in by_rule.items():
        hours = sum(j.seconds for j in jobs) / 3600
        on_gpu = all(j.gpu for j in jobs)
        cpu, gpu = (0.0, hours) if on_gpu else (hours, 0.0)
        cpu_total, gpu_total = cpu_total + cpu, gpu_total + gpu
        largest = max(jobs, key=lambda j: j.seconds)
        lines.append(f"| `{rule}` | {len(jobs)} | {_hours(cpu)} | {_hours(gpu)} | {_duration(largest.seconds)} | "
                     f"{_duration(60 * largest.runtime)} | {largest.mem_mb / 1024:.1f} GB |")
    n = sum(len(jobs) for jobs in by_rule.values())
    lines.append(f"| all | {n} | {_hours(cpu_total)} | {_hours(gpu_total)} | | | |")
    over = costs.over_limit()
    lines.append("")
    lines.append(f"resources.max_job_minutes: {costs.max_minutes}; resources.analysis_gpu: "
                 f"{str(costs.analysis_gpu).lower()}; declared runtime = {SAFETY:g} x predicted, at least "
                 f"{MIN_RUNTIME_MINUTES} min; GPU hours at assumed rates (regeo.costs).")
    if over:
        lines.append("Over the limit (one item each, nothing smaller to split): "
                     + ", ".join(f"{j.rule} {j.name} ({j.runtime} min)" for j in over))
    return "\n".join(lines) + "\n"


def _hours(h: float) -> str:
    return "-" if h == 0 else f"{h:,.1f}" if h >= 0.1 else "<0.1"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
