"""Rule figure_steering_efficiency: see regeo.figures.steering.plot_transfer_efficiency."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.steering import plot_transfer_efficiency
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    fig = plot_transfer_efficiency(pd.read_parquet(snakemake.input[0]))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
