"""The study's analyses as rules (``neighbourhoods``, ``rank_knee``, ``across_runs``,
``figure_loss_curves``): read the pipeline's files, call :mod:`regeo.analyses`, write tables and figures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from regeo.dumps import read_dump, steps_of
from regeo.figures.common import save_figure
from regeo.io import RegeoInputError, read_parquet, read_tables, write_parquet
from regeo.geometry.intervals import section_bootstrap
from regeo.stats import adjust
from regeo.tokenizer import token_texts
from regeo.token_sets import read_counts

log = logging.getLogger(__name__)

def _per_token(path: str | Path, metric: str) -> pd.DataFrame:
    table = read_parquet(path)
    table = table[(table["embeddings"] == "input") & (table["metric"] == metric)]
    if table.empty:
        raise RegeoInputError(f"{path}: no per-token rows of the input embeddings under metric {metric}")
    return table.reset_index(drop=True)


def neighbourhoods(params: dict, bootstrap: dict, id_metric: str, runs: dict[str, dict], out: dict[str, str],
                   dpi: int, adjustment: str) -> None:
    """Rule ``neighbourhoods``: neighbourhood settling of every run (RQ2) and the low/high per-token
    ID tokens with their cross-seed coherence (Lee et al.); three tables, two figures.

    ``runs``: name -> {subset, preset, seed, dumps, per_token, tokenizer, counts (or None)};
    ``out``: settling, settled, low_high, coherence tables, settling_pdf/png, low_high_pdf/png.
    """
    from regeo.figures.analyses import plot_low_high_id, plot_settling
    from regeo.analyses.neighbourhoods import coherence, id_groups, neighbours, probe_tokens, settling

    boot = section_bootstrap(bootstrap)
    k, metric = params["k"], params["metric"]
    texts = {run: token_texts(spec["tokenizer"]) for run, spec in runs.items()}
    counts = {run: read_counts(spec["counts"]) for run, spec in runs.items() if spec["counts"]}
    by_subset = {runs[run]["subset"]: c for run, c in counts.items()}
    reference = texts[next(iter(counts))] if counts else next(iter(texts.values()))
    probes = probe_tokens(by_subset, reference, params["probes_per_register"], params["probe_tokens"])
    log.info("probe tokens: %s", ", ".join(f"{t!r} ({s})" for t, s in probes))
    curves, settled, listed, coherent = [], [], [], []
    finals = {}
    for run, spec in runs.items():
        identity = {"run": run, "subset": spec["subset"], "preset": spec["preset"], "seed": spec["seed"]}
        per_token = _per_token(spec["per_token"], id_metric)
        if params["id_column"] not in per_token:
            raise RegeoInputError(f"analyses.neighbourhoods.id_column: {params['id_column']!r} is not a per-token ID of "
                                  f"{spec['per_token']}; it has {', '.join(c for c in per_token if c[-1].isdigit())}")
        ids = per_token["token_id"].to_numpy()
        dumps = {step: read_dump(path).input.numpy()[ids] for step, path in steps_of(spec["dumps"]).items()}
        keep = np.logical_and.reduce([np.abs(X).max(1) > 0 for X in dumps.values()])  # no all-zero (pad) rows
        ids, per_token = ids[keep], per_token[keep].reset_index(drop=True)
        dumps = {step: X[keep] for step, X in dumps.items()}
        row_of = {texts[run][i]: r for r, i in enumerate(ids)}
        run_probes = {t: row_of[t] for t, _ in probes if t in row_of}
        X = dumps[max(dumps)]
        final = neighbours(X, k, metric)  # (n, k), shared by the settling and the listed tokens
        curve, settle = settling(dumps, k, metric, run_probes, params["settle_jaccard"], boot, final)
        register = dict(probes)
        for table in (curve, settle):
            table["token_id"] = [int(ids[r]) if r >= 0 else -1 for r in table["row"]]
            table["probe_register"] = [register.get(t, "") for t in table["token"]]
            for key, value in reversed(identity.items()):
                table.insert(0, key, value)
        curves.append(curve.drop(columns="row"))
        settled.append(settle.drop(columns="row"))
        run_counts = counts[run][ids] if run in counts else np.ones(len(ids), dtype=np.int64)
        values = per_token[params["id_column"]].to_numpy(dtype=np.float64)
        finals[run] = {"X": X, "ids": ids, "values": values, "counts": run_counts, **identity}
        low, high = id_groups(values, run_counts, params["frequent_tokens"], params["group_fraction"])
        lists = final[np.concatenate([low[:params["listed"]], high[:params["listed"]]])]
        for j, (group, r) in enumerate([("low", r) for r in low[:params["listed"]]]
                                       + [("high", r) for r in high[:params["listed"]]]):
            listed.append({**identity, "group": group, "rank": j % params["listed"] + 1, "token_id": int(ids[r]),
                           "token": texts[run][ids[r]], "id_value": float(values[r]), "count": int(run_counts[r]),
                           "neighbours": [texts[run][ids[m]] for m in lists[j]], "id_column": params["id_column"],
                           "n_tokens": len(ids), "frequent_tokens": params["frequent_tokens"]})
    for run, a in finals.items():
        for other, b in finals.items():
            if other == run or (a["subset"], a["preset"]) != (b["subset"], b["preset"]):
                continue
            if runs[run]["tokenizer"] != runs[other]["tokenizer"]:
                continue  # seed partners share a tokenizer; rows of two tokenizers are not aligned here
            common, ra, rb = np.intersect1d(a["ids"], b["ids"], return_indices=True)
            low, high = id_groups(a["values"][ra], a["counts"][ra], params["frequent_tokens"],
                                  params["group_fraction"])
            # Against a noise partner of A matched to the pair's overall overlap (the low-ID
            # group keeps more neighbours under any perturbation), cluster-bootstrap intervals.
            result = coherence(a["X"][ra], b["X"][rb], low, high, k, metric, boot,
                               null_draws=params["null_draws"], null_seed=bootstrap["seed"],
                               unit=params["bootstrap_unit"], cluster_size=params["cluster_size"])
            counts_ab = a["counts"][ra]
            coherent.append({"run": run, "partner": other, "subset": a["subset"], "preset": a["preset"],
                             "seed": a["seed"], "seed_partner": b["seed"], **result,
                             "mean_log_count_low": float(np.log(counts_ab[low]).mean()),
                             "mean_log_count_high": float(np.log(counts_ab[high]).mean()),
                             "id_column": params["id_column"], "token_set": "seen_by_both"})
    settling_table, settled_table = pd.concat(curves, ignore_index=True), pd.concat(settled, ignore_index=True)
    low_high = pd.DataFrame(listed)
    coherence_table = pd.DataFrame(coherent, columns=None if coherent else ["run", "partner"])
    if "p_value" in coherence_table:  # every ordered seed pair is one test of the table's family
        coherence_table["adjustment"] = adjustment
        coherence_table["p_adjusted"] = adjust(coherence_table["p_value"], adjustment)
    write_parquet(settling_table, out["settling"])
    write_parquet(settled_table, out["settled"])
    write_parquet(low_high, out["low_high"])
    write_parquet(coherence_table, out["coherence"])
    save_figure(plot_settling(settling_table, settled_table), out["settling_pdf"], out["settling_png"], dpi)
    save_figure(plot_low_high_id(low_high, coherence_table), out["low_high_pdf"], out["low_high_png"], dpi)


def rank_knee(params: dict, bootstrap: dict, seq_len: int, device_name: str, runs: dict[str, dict],
              models: dict[str, str], val_bins: dict[str, str], counts: dict[str, str | None], min_count: int,
              id_comparison: str, out: dict[str, str], threads: int = 1) -> None:
    """Rule ``rank_knee``: every trained final model's val loss with rank-r embeddings on its own
    register's val split, and its knee (the figure, beside the IDs, is drawn by ``across_runs``).
    The rank basis is fitted on the run's seen tokens (``counts``, ``min_count``); the default rank
    grid includes ranks around the run's measured ID (``id_comparison``, ``params["id_measure"]``)."""
    import torch
    from transformers import AutoModelForCausalLM

    from regeo.devices import resolve_device
    from regeo.analyses.rank_knee import measured_id, rank_curve, rank_grid
    from regeo.tokens import load_tokens
    from regeo.token_sets import read_seen_mask

    torch.set_num_threads(threads)
    device = resolve_device(device_name, "training.device")
    boot = section_bootstrap(bootstrap)
    ids = read_parquet(id_comparison)
    curves, summaries = [], []
    for run, fields in runs.items():
        model = AutoModelForCausalLM.from_pretrained(models[run], use_safetensors=True).to(device)
        d = model.get_input_embeddings().weight.shape[1]
        grid_id = None if params["ranks"] is not None else measured_id(ids, run, **params["id_measure"])
        ranks = rank_grid(d, params["ranks"], grid_id, params["id_offsets"])
        curve, summary = rank_curve(model, load_tokens(val_bins[fields["subset"]]), ranks, params["tolerance"],
                                    params["batch_size"], seq_len, params["max_batches"], device, boot,
                                    params["seed"], seen=read_seen_mask(counts.get(run), min_count))
        identity = {"run": run, **fields, "d": d}
        for key, value in reversed(identity.items()):
            curve.insert(0, key, value)
        curves.append(curve)
        summaries.append({**identity, **summary, "grid_id": np.nan if grid_id is None else grid_id,
                          "n_ranks": len(ranks)})
        log.info("%s: ranks %s (ID %s); basis on %d seen rows; knee %d of d %d; at rank %d the SVD loses %.3f "
                 "nats, a random subspace %.3f", run, ranks, "n/a" if grid_id is None else f"{grid_id:.1f}",
                 summary["n_basis_rows"], summary["knee_svd"], d, summary["null_rank"],
                 summary["excess_svd_at_null_rank"], summary["excess_random_at_null_rank"])
    write_parquet(pd.concat(curves, ignore_index=True), out["curve"])
    write_parquet(pd.DataFrame(summaries), out["summary"])


def across_runs(params: dict, bootstrap: dict, id_comparison: str, similarity: str, evaluation: str,
                rank_curve: str, rank_summary: str, out: dict[str, str], dpi: int, adjustment: str,
                benchmarks: str | None = None, properties: list[str] | None = None,
                properties_comparison: str | None = None) -> None:
    """Rule ``across_runs``: RQ3's rank correlations (geometry against losses and, with
    ``benchmarks``, the harness's proxies; with ``properties``, the runs' properties tables, the
    final dump's properties as geometry and each correlation's partial one beyond effective rank),
    the seed-blocked register tests, redundancy against model size, and the rank knee beside the
    IDs (``id_comparison``, input embeddings, first metric). With ``properties_comparison`` (every
    run on the common tokens) the same register test per (embeddings, property) of RQ3's
    properties, a family of its own (``out["property_registers"]``)."""
    from regeo.figures.analyses import plot_rank_knee, plot_redundancy_vs_size, plot_rq3
    from regeo.analyses.across_runs import measured, redundancy_by_size, rq3_correlations, run_variables, with_ids
    from regeo.analyses.register_effect import register_tests

    ids = read_parquet(id_comparison)
    measures = params["id_measures"]
    variables = run_variables(ids, read_parquet(similarity), read_parquet(evaluation), measures=measures,
                              benchmarks=read_parquet(benchmarks) if benchmarks is not None else None,
                              properties=read_tables(properties) if properties else None)
    boot = section_bootstrap(bootstrap, params["replicates"])
    correlations = rq3_correlations(variables, boot, params["min_subsets"], adjustment, params["max_exact"])
    registers = register_tests(measured(ids[ids["run"].isin(variables["run"])], measures), adjustment,
                               params["replicates"],
                               bootstrap["seed"], 1 - bootstrap["confidence"], params["max_exact"])
    if properties_comparison is not None:
        from regeo.analyses.across_runs import PROPERTY_VARIABLES
        from regeo.analyses.register_effect import PROPERTY_MEASURE

        common = read_parquet(properties_comparison)
        common = common[common["run"].isin(variables["run"]) & common["property"].isin(PROPERTY_VARIABLES)]
        write_parquet(register_tests(common, adjustment, params["replicates"], bootstrap["seed"],
                                     1 - bootstrap["confidence"], params["max_exact"], PROPERTY_MEASURE,
                                     "register_property_tests"), out["property_registers"])
    size = redundancy_by_size(ids)
    write_parquet(variables, out["variables"])
    write_parquet(correlations, out["correlations"])
    write_parquet(registers, out["registers"])
    write_parquet(size, out["size"])
    save_figure(plot_rq3(variables, correlations), out["rq3_pdf"], out["rq3_png"], dpi)
    save_figure(plot_redundancy_vs_size(size), out["size_pdf"], out["size_png"], dpi)
    knees = with_ids(read_parquet(rank_summary), ids)
    save_figure(plot_rank_knee(read_parquet(rank_curve), knees), out["rank_pdf"], out["rank_png"], dpi)


def loss_curves(logs: dict[str, str], runs: dict[str, dict], pdf: str, png: str, dpi: int) -> None:
    """Rule ``figure_loss_curves``: training and validation loss of every trained run."""
    from regeo.figures.analyses import plot_loss_curves

    frames = []
    for run, path in logs.items():
        table = pd.read_csv(path)
        for key, value in runs[run].items():
            table[key] = value
        table["run"] = run
        frames.append(table)
    save_figure(plot_loss_curves(pd.concat(frames, ignore_index=True)), pdf, png, dpi)


def postprocessed_similarity(params: dict, adjustment: str, global_similarity: str, lle_comparison: str,
                             out: dict[str, str], dpi: int) -> None:
    """Rule ``postprocessed_similarity``: raw against standardised and all-but-the-top similarity
    per pair type, the sign-flip test of each change (:mod:`regeo.analyses.postprocessed`) and its figure."""
    from regeo.analyses.postprocessed import postprocess_tests
    from regeo.figures.postprocessed import plot_postprocessed

    tables = {"global_similarity": read_parquet(global_similarity), "lle_comparison": read_parquet(lle_comparison)}
    tests = postprocess_tests(tables, adjustment, params["sign_flips"], params["seed"])
    write_parquet(tests, out["table"])
    save_figure(plot_postprocessed(tables, tests), out["pdf"], out["png"], dpi)
