# The files each rule reads and writes, from the one map of results/ (regeo.layout) and the run
# table (common.smk); the final targets of `rule all`.


def run_dumps(run):
    """A run's embedding dumps, in step order: the training schedule, or an external run's steps."""
    names = (
        [dump_name(step) for step in EXTERNAL_RUNS[run].steps]
        if run in EXTERNAL_RUNS
        else DUMP_NAMES
    )
    return [layout.dump(run, name) for name in names]


def final_dump(run):
    return run_dumps(run)[-1]


def init_dump(run):
    """A run's dump at initialisation (step 0), the similarity null; None for an external run
    without one (a released model alone: its only dump is the final one)."""
    if run in EXTERNAL_RUNS and (
        EXTERNAL_RUNS[run].steps[0] != 0 or len(EXTERNAL_RUNS[run].steps) == 1
    ):
        return None
    return run_dumps(run)[0]


def run_train_tokens(run):
    """A trained run's token file and its metadata; none for an external run (its data is not ours)."""
    if run in EXTERNAL_RUNS:
        return []
    return [
        layout.token_file(run_subset(run), "train"),
        layout.token_meta(run_subset(run)),
    ]


def run_tokenizer(run):
    """The tokenizer directory of a run's model (one shared by every trained run; an external
    run's own, saved beside its dumps)."""
    if run in EXTERNAL_RUNS:
        return layout.external_tokenizer_dir(run)
    return layout.tokenizer_dir()


def run_counts(run):
    """Per-token counts of a run's training data (token_id, count), for the seen-token filter;
    None for an external run, whose training data is not ours: its analyses use every token.
    """
    if run in EXTERNAL_RUNS:
        return None
    return layout.token_counts(run_subset(run))


def model_dirs(runs):
    """run -> its final model directory (save_pretrained form)."""
    return {run: layout.model_dir(run) for run in runs}


def val_bins():
    """subset -> its val token file."""
    return {subset: layout.token_file(subset, "val") for subset in SUBSETS}


def val_documents(subsets):
    """subset -> its val documents."""
    return {subset: layout.subset_split(subset, "val") for subset in subsets}


def train_documents(subsets):
    """subset -> its train documents."""
    return {subset: layout.subset_split(subset, "train") for subset in subsets}


def final_models():
    """run -> its final dump, tokenizer and counts, for the cross-model rules (regeo.stages.cross_model)."""
    return {
        run: {
            **fields,
            "dump": final_dump(run),
            "init_dump": init_dump(run),
            "tokenizer": run_tokenizer(run),
            "counts": run_counts(run),
        }
        for run, fields in run_table().items()
    }


def batch_trained(batch):
    """The trained runs of an evaluation batch (resources.smk's EVALUATE_BATCHES)."""
    return [run for run in EVALUATE_BATCHES[batch] if run in TRAINED_RUNS]


def batch_external(batch):
    return [run for run in EVALUATE_BATCHES[batch] if run in EXTERNAL_RUNS]


def block_runs(table, block):
    """The runs of a block of a pair table's pairs (resources.smk's PAIR_BLOCKS), in run order."""
    names = {run for pair in PAIR_BLOCKS[table][block] for run in pair}
    return [run for run in RUNS if run in names]


def block_models(table, block):
    """final_models() of a block's runs only: its job reads no other model."""
    runs = block_runs(table, block)
    return {run: files for run, files in final_models().items() if run in runs}


def block_counts(table, block):
    return sorted({c for c in map(run_counts, block_runs(table, block)) if c})


def neighbourhood_runs():
    """run -> what the neighbourhood analyses read of it: every dump, its per-token IDs."""
    return {
        run: {
            **fields,
            "dumps": run_dumps(run),
            "per_token": layout.id_per_token(run),
            "tokenizer": run_tokenizer(run),
            "counts": run_counts(run),
        }
        for run, fields in run_table().items()
    }


def steering_tables(kind=None):
    """Per-pair files of the steering rule: the sweep tables (kind None), or its .summary/.depth tables."""
    return [layout.steering_pair(a, b, kind) for a, b in STEERING_PAIRS]


def steering_spaces():
    """What the readings of the steering vectors read of each run in a steering pair: its final
    dump, its tokenizer, its counts and its final model (the final norm of the logit lens).
    """
    files = []
    for run in steering_pair_runs():
        files += [final_dump(run), run_tokenizer(run), layout.model_dir(run)]
        files += [c for c in [run_counts(run)] if c]
    return list(dict.fromkeys(files))
