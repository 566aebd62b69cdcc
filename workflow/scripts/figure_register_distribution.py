"""Rule figure_register_distribution: see regeo.figures.registers."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.registers import plot_register_distribution
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    fig = plot_register_distribution(pd.read_parquet(snakemake.input[0]))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
