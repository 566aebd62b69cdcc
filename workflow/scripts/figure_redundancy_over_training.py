"""Rule figure_redundancy_over_training: see regeo.figures.id_curves."""
import pandas as pd

from regeo.figures.common import save_figure
from regeo.figures.id_curves import plot_id_curves, with_run_columns
from regeo.logs import snakemake_job

with snakemake_job(snakemake):
    table = with_run_columns(pd.concat(map(pd.read_parquet, snakemake.input)), snakemake.params.runs)
    fig = plot_id_curves(table, value="redundancy", estimator="mle", ylabel="redundancy 1 - ID/d")
    save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.params.dpi)
