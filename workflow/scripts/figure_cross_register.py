"""Rule figure_cross_register: see regeo.figures.heatmap."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.heatmap import plot_cross_register
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    fig = plot_cross_register(pd.read_parquet(snakemake.input[0]))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
