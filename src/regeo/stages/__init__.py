"""Pipeline stages: each function takes the sub-config a rule passes in ``params`` and file paths,
reads the rule's inputs, calls the library and writes the rule's outputs; nothing more.

Snakemake scripts only unpack the ``snakemake`` object and call one function: one of these, or a
library function that already is the whole job (``regeo.train.job.train_run``,
``regeo.tokenizer.build_tokenizer_from_files``, ``regeo.tokens.tokenize_subset_files``,
``regeo.steering.summary.summarise_files``). So every stage is also callable (and tested)
without Snakemake.
"""
