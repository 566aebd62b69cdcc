"""Rule figure_global_similarity: see regeo.figures.pair_heatmaps."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.pair_heatmaps import plot_global_similarity
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    fig = plot_global_similarity(pd.read_parquet(snakemake.input[0]))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
