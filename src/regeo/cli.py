"""The ``regeo`` command: read a point of a run's space (``regeo explain``), the ID or the
properties of any matrix with their nulls and intervals (``regeo id``, ``regeo properties``), or
what a config's jobs will ask a cluster for (``regeo cost``), without Snakemake."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regeo.io import RegeoInputError

# The config a run of the pipeline reads unless told otherwise (the Snakefile's configfile).
DEFAULT_CONFIG = "config/config.yaml"

def _explain_parser(sub) -> None:
    p = sub.add_parser("explain", help="nearest tokens and logit-lens reading of a vector in a run's space",
                       description="Read a vector of a run's embedding space at one dump: its nearest tokens by "
                                   "cosine among the input embeddings and its logit-lens reading through the "
                                   "unembedding. Give exactly one vector.")
    p.add_argument("--run", required=True, help="run name, e.g. ne-tiny-s0 (a folder of RESULTS/runs)")
    p.add_argument("--step", type=int, help="dump step (default: the last)")
    p.add_argument("--results", default="results", help="the pipeline's results folder (default: results)")
    table = p.add_mutually_exclusive_group()
    table.add_argument("--config", default=None,
                       help="the config the results were made with, whose run table names the run's subset (for "
                            "the seen tokens); default: config/config.yaml when it exists")
    table.add_argument("--subset", help="the run's subset, instead of reading it from --config")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--token", help='one token, e.g. " said" (a leading space is part of the token)')
    what.add_argument("--text", help="a text: its hidden state at --layer (final model only)")
    what.add_argument("--vector", help="a saved steering vector (safetensors, e.g. results/steering/vectors/A__B.safetensors)")
    what.add_argument("--between", nargs=2, metavar=("A", "B"), help="the point (1 - t) A + t B of two tokens")
    what.add_argument("--expr", help='arithmetic of tokens and vector files, e.g. \'" king" - " man" + " woman"\' '
                                     "or '\" news\" + 2 * @vec.safetensors'")
    p.add_argument("--vector-name", help="with --vector: the tensor, e.g. reporting_verbs.transferred "
                                         "(default: 'vector' or the file's only tensor)")
    p.add_argument("--layer", type=int, help="with --text: block output 0..L (0 = embeddings)")
    p.add_argument("--position", type=int, default=-1, help="with --text: token position (default: the last)")
    p.add_argument("--t", type=float, default=0.5, help="with --between: where between A (0) and B (1)")
    p.add_argument("--k", type=int, default=10, help="tokens per list (default 10)")
    p.add_argument("--min-count", type=int, default=1,
                   help="nearest tokens among those seen this often in the run's training data (0: every row)")
    p.add_argument("--keep-query", action="store_true", help="list the query tokens themselves among the nearest")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _id_parser(sub) -> None:
    from regeo.config import schema_defaults

    geometry = schema_defaults("geometry")
    p = sub.add_parser("id", help="the ID table of a matrix with its nulls and intervals",
                       description="Intrinsic dimension of the rows of a matrix (.npy, or .safetensors with --key): "
                                   "every estimator with its bootstrap interval over rows, the isotropic and "
                                   "covariance-matched Gaussian nulls and the redundancy against the null. "
                                   "Defaults are the pipeline's (geometry.id, geometry.bootstrap).")
    p.add_argument("matrix", help="MATRIX.npy or MATRIX.safetensors (rows = points)")
    p.add_argument("--key", help="tensor of a safetensors file (default: 'input', or its only tensor)")
    p.add_argument("--metric", choices=["euclidean", "cosine"], default=geometry["id"]["metrics"][0])
    p.add_argument("--ks", type=int, nargs="+", default=geometry["id"]["ks"], help="MLE neighbourhood sizes")
    p.add_argument("--replicates", type=int, default=geometry["bootstrap"]["replicates"],
                   help="bootstrap replicates (0: no intervals)")
    p.add_argument("--no-nulls", action="store_true", help="skip the nulls (faster)")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")


def _properties_parser(sub) -> None:
    from regeo.config import schema_defaults

    bootstrap = schema_defaults("geometry")["bootstrap"]
    p = sub.add_parser("properties", help="anisotropy, isotropy, rogue dimensions, spectrum and norms of a matrix",
                       description="The properties of the rows of a matrix (.npy, or .safetensors with --key): "
                                   "mean cosine, mean-vector ratio, IsoScore, partition isotropy, rogue-dimension "
                                   "shares, effective rank, participation ratio, spectral decay and row norms, "
                                   "each with its bootstrap interval over rows and the isotropic and "
                                   "covariance-matched Gaussian nulls (regeo.geometry.properties). Interval "
                                   "defaults are the pipeline's (geometry.bootstrap).")
    p.add_argument("matrix", help="MATRIX.npy or MATRIX.safetensors (rows = points)")
    p.add_argument("--key", help="tensor of a safetensors file (default: 'input', or its only tensor)")
    p.add_argument("--counts", help="COUNTS.npy: one token count per row (adds the norm-frequency correlation)")
    p.add_argument("--replicates", type=int, default=bootstrap["replicates"],
                   help="bootstrap replicates (0: no intervals)")
    p.add_argument("--no-nulls", action="store_true", help="skip the nulls (faster)")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")


def read_matrix(path: str | Path, key: str | None = None):
    """(n, d) float array of a .npy file or one tensor of a .safetensors file."""
    import numpy as np

    path = Path(path)
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix == ".safetensors":
        from regeo.io import load_tensors

        tensors = load_tensors(path)
        if key is None:
            key = "input" if "input" in tensors else next(iter(tensors)) if len(tensors) == 1 else None
        if key not in tensors:
            raise RegeoInputError(f"{path}: give --key, one of {sorted(tensors)}")
        return tensors[key].float().numpy()
    raise RegeoInputError(f"{path}: a .npy or .safetensors file is needed")


def run_id(args) -> int:
    from regeo.config import schema_defaults
    from regeo.stages.id_dynamics import id_config

    geometry = schema_defaults("geometry")
    params = {**geometry["id"], "ks": args.ks, "nulls": [] if args.no_nulls else geometry["id"]["nulls"]}
    bootstrap = {**geometry["bootstrap"], "replicates": args.replicates}
    from regeo.geometry.id_table import id_table

    X = read_matrix(args.matrix, args.key)
    table = id_table(X, id_config(params, bootstrap, args.metric))
    if args.json:
        print(table.to_json(orient="records", indent=1))
        return 0
    cols = ["estimator", "k", "value", "ci_low", "ci_high", "null_isotropic", "null_covariance",
            "redundancy_vs_null", "ceiling"]
    print(f"{args.matrix}: {X.shape[0]} rows x {X.shape[1]}, metric {args.metric}, "
          f"{table['n_tokens'].iloc[0]} distinct rows analysed (token set: all rows), "
          f"{int(bootstrap['confidence'] * 100)} % intervals over rows ({args.replicates} replicates)")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def run_properties(args) -> int:
    import numpy as np

    from regeo.config import schema_defaults
    from regeo.geometry.properties import PROPERTY_NULLS, property_table

    bootstrap = schema_defaults("geometry")["bootstrap"]
    X = read_matrix(args.matrix, args.key)
    counts = None
    if args.counts is not None:
        if not args.counts.endswith(".npy"):
            raise RegeoInputError(f"{args.counts}: the counts must be a .npy file")
        counts = np.load(args.counts)  # allow_pickle is off by default: a plain array only
        if counts.shape != (X.shape[0],):
            raise RegeoInputError(f"{args.counts}: {counts.shape} counts for {X.shape[0]} rows")
    table = property_table(X, counts, nulls=() if args.no_nulls else PROPERTY_NULLS,
                           bootstrap_replicates=args.replicates, bootstrap_seed=bootstrap["seed"],
                           confidence=bootstrap["confidence"])
    if args.json:
        print(table.to_json(orient="records", indent=1))
        return 0
    print(f"{args.matrix}: {X.shape[0]} rows x {X.shape[1]} (token set: all rows), "
          f"{int(bootstrap['confidence'] * 100)} % intervals over rows ({args.replicates} replicates)")
    cols = ["property", "value", "ci_low", "ci_high", "null_isotropic", "null_covariance", "detail"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def run_explain(args) -> int:
    from regeo import explain as ex

    config = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    subset = args.subset or ex.run_subset(args.run, config)
    space = ex.open_space(args.results, args.run, args.step, args.min_count, subset=subset)
    exclude: list[int] = []
    if args.token is not None:
        token = space.token_id(args.token)
        vector, exclude, what = space.input[token], [token], f"token {args.token!r} (id {token})"
    elif args.text is not None:
        if args.layer is None:
            raise RegeoInputError("--text needs --layer")
        vector = ex.hidden_state(space, args.text, args.layer, args.position)
        what = f"hidden state after block {args.layer} at position {args.position} of {args.text!r}"
    elif args.vector is not None:
        vector = ex.checked_vector(space, args.vector, args.vector_name)
        meta = ex.read_steering_vector(args.vector, args.vector_name)[1]
        what = f"steering vector {args.vector} (" + ", ".join(f"{k} {v}" for k, v in sorted(meta.items())) + ")"
    elif args.between is not None:
        a, b = (space.token_id(t) for t in args.between)
        vector = (1 - args.t) * space.input[a] + args.t * space.input[b]
        exclude, what = [a, b], f"(1 - {args.t}) {args.between[0]!r} + {args.t} {args.between[1]!r}"
    else:
        vector, exclude = ex.expression_vector(space, args.expr)
        what = f"expression {args.expr}"
    reading = ex.explain_vector(space, vector, args.k, [] if args.keep_query else exclude, what)
    print(json.dumps(reading, indent=1) if args.json else ex.format_reading(reading))
    return 0


def _cost_parser(sub) -> None:
    p = sub.add_parser("cost", help="predicted jobs, CPU and GPU hours per rule of a config",
                       description="Per heavy rule: its jobs, predicted CPU and GPU hours, its largest job "
                                   "(predicted, and the runtime and memory it declares), and the total, from "
                                   "regeo.costs: the jobs and batches `snakemake -n` plans for the same config.")
    p.add_argument("--configfile", action="append", default=[],
                   help="config file(s) merged over config/config.yaml, as snakemake's --configfile")


def run_cost(args) -> int:
    from regeo.config import ConfigError, load_config_files
    from regeo.costs import cost_report

    try:
        cfg = load_config_files([DEFAULT_CONFIG, *args.configfile])
    except ConfigError as err:
        raise RegeoInputError(str(err)) from err
    print(cost_report(cfg), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="regeo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _explain_parser(sub)
    _id_parser(sub)
    _properties_parser(sub)
    _cost_parser(sub)
    args = parser.parse_args(argv)
    commands = {"explain": run_explain, "id": run_id, "properties": run_properties, "cost": run_cost}
    try:
        return commands[args.command](args)
    except RegeoInputError as err:
        print(f"regeo {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
