# results/manifest.json: every output with its hash, the params and input hashes it came from,
# and the software versions. Rerun by every change, since it reads everything.


rule manifest:
    input:
        final_outputs(),
        [dump for run in RUNS for dump in run_dumps(run)],
    output:
        layout.manifest(),
    log:
        "logs/manifest.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        repo=str(REPO_ROOT),
    script:
        "../scripts/manifest.py"
