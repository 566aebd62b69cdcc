"""The tables over all steering pairs: one row per (source, target, concept), and alignment through depth.

Each pair job computes its own summary rows (:func:`regeo.steering.transfer.run_transfer`),
because the intervals of its ratios need the bootstrap replicates, which only the job has; the
summary rule concatenates them. Pure pandas: the rule and the figures read it without torch.

Columns of ``transfer.parquet`` (one row per pair and concept), beside the pair's description
(``relation``, subsets, presets, seeds, layers, widths):

- the map: ``embeddings`` (fit rows), ``n_shared_tokens``, ``n_map_fit_tokens``,
  ``n_map_heldout_tokens``, ``map_r2_fit``, ``map_r2_heldout``, ``map_top1_heldout``,
  ``map_top10_heldout``, ``shuffled_map_r2_heldout``, ``shuffled_map_top1_heldout``,
  ``hidden_map_r2_heldout`` with ``n_hidden_fit_positions`` and ``n_hidden_heldout_positions``;
- the scoring set: ``metric`` (loglik for text contrasts, logodds for token sets),
  ``n_heldout_positive``/``negative`` passages, ``n_heldout_tokens``, ``n_null``,
  ``bootstrap_replicates``, ``confidence``;
- per condition c in native, transferred, hidden_map, shuffled_map: ``c_effect`` (effect per
  unit alpha over the sweep) and ``c_first_order`` (g . v), each with ``_ci_low``/``_ci_high``;
  ``c_z``, ``c_p`` against the isotropic null and ``c_z_mapped``, ``c_p_mapped`` against the
  mapped one; ``c_cosine_to_native``;
- the nulls: ``null_isotropic_mean``/``sd``, ``null_mapped_mean``/``sd`` and ``null_check_error``;
- ratios with intervals: ``transfer_ratio`` (transferred / native), ``ceiling_share``
  (transferred / hidden_map), ``hidden_map_ratio`` (hidden_map / native);
- ``native_significant`` (native p < 1 - confidence against the isotropic null),
  ``transferred_significant`` (against the mapped null), ``flag`` ("ok" or
  "native_not_above_null": the concept has no direction of its own in the target that the
  null does not match, so its ratios mean little).
"""

from __future__ import annotations

import logging

import pandas as pd

from regeo.io import read_parquet, write_parquet

log = logging.getLogger(__name__)
CONDITIONS = ("native", "transferred", "hidden_map", "shuffled_map")
METRIC_LABELS = {"loglik": "log-lik. shift per unit alpha\n(pos - neg, nats/token)",
                 "logodds": "target log-odds shift\nper unit alpha"}


def summarise_files(summary_paths: list[str], depth_paths: list[str], transfer_path, depth_path) -> pd.DataFrame:
    """The pairs' summary and depth tables concatenated and written: rule ``steering_summary``."""
    summary = pd.concat([read_parquet(p) for p in summary_paths], ignore_index=True) if summary_paths else pd.DataFrame()
    depth = pd.concat([read_parquet(p) for p in depth_paths], ignore_index=True) if depth_paths else pd.DataFrame()
    write_parquet(summary, transfer_path)
    write_parquet(depth, depth_path)
    for row in summary.itertuples():
        log.info("%s -> %s %s: transferred z %.1f (mapped null), ratio %.2f [%.2f, %.2f], ceiling share %.2f",
                 row.source, row.target, row.concept, row.transferred_z_mapped, row.transfer_ratio,
                 row.transfer_ratio_ci_low, row.transfer_ratio_ci_high, row.ceiling_share)
    return summary
