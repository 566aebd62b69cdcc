# One tokenizer shared by every run (so embedding rows align across models), then token files.


rule tokenizer:
    input:
        expand(layout.subset_split("{subset}", "train"), subset=SUBSETS),
    output:
        directory(layout.tokenizer_dir()),
    log:
        "logs/tokenizer.log",
    benchmark:
        layout.job_benchmark("tokenizer")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        tokenizer=tokenizer_params(),
    script:
        "../scripts/tokenizer.py"


rule tokens:
    input:
        tokenizer=layout.tokenizer_dir(),
        train=layout.subset_split("{subset}", "train"),
        val=layout.subset_split("{subset}", "val"),
    output:
        train=layout.token_file("{subset}", "train"),
        val=layout.token_file("{subset}", "val"),
        counts=layout.token_counts("{subset}"),
        meta=layout.token_meta("{subset}"),
    log:
        "logs/tokens/{subset}.log",
    benchmark:
        layout.job_benchmark("tokens", "{subset}")
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=data_memory,
    params:
        budget=subset_params(),
    script:
        "../scripts/tokens.py"
