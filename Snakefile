# The workflow is workflow/Snakefile (where the Snakemake workflow catalog looks for it); this
# file lets `snakemake` run from the repository's root as before, with the root's profiles.


include: "workflow/Snakefile"


# An included file's default target is not the including file's: name it here.
workflow.default_target = "all"
