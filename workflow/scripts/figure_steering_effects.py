"""Rule figure_steering_effects: see regeo.figures.steering.plot_steering_effects."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.steering import plot_steering_effects
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    tables = [pd.read_parquet(path) for path in snakemake.input]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    fig = plot_steering_effects(table)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
