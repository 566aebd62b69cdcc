"""Rule steering_cards: see regeo.stages.steering_judge.steering_cards."""
from regeo.logs import snakemake_job
from regeo.stages.steering_judge import steering_cards

with snakemake_job(snakemake):
    steering_cards(
        list(snakemake.input.judged),
        snakemake.input.transfer,
        snakemake.input.native,
        snakemake.params.adjustment,
        snakemake.output.cards,
        snakemake.output.judged,
        snakemake.output.html,
    )
