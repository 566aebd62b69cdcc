"""First-order steering effects: the gradient of each passage's score with respect to the injected shift.

Steering adds ``alpha * v`` to the output of block l at every position. For small alpha the change
of a score S is ``alpha * g . v`` with g = dS/d(shift) at shift 0, so one backward pass gives the
first-order effect of *every* vector at once: the native, transferred and baseline vectors and
any number of null draws. S here is a per-passage sum (:mod:`regeo.steering.score`), and each
passage gets a shift of its own in the backward pass (a (B, 1, d) leaf broadcast over positions),
so the pass yields one gradient per passage and a bootstrap over passages reweights them.

The slope of a vector v under passage weights w is the statistic of :func:`regeo.steering.score.
statistic` with the per-passage sums replaced by ``G_p . v``: exactly the derivative of the
weighted statistic, since its denominators (token counts) do not depend on the shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from regeo.steering.inject import added_to_output, check_layer, decoder_layers
from regeo.steering.score import Heldout, PassageScores, counts, position_terms, statistic, target_tensor
from regeo.steering.text import padded_batches
from regeo.steering.vectors import model_device


@dataclass(frozen=True)
class PassageGradients:
    """Per-passage gradients (P, d) float64 of each metric's sum, and the unsteered scores."""

    scores: PassageScores  # of the model without steering (the same forward pass)
    loglik: np.ndarray  # (P, d)
    logodds: np.ndarray  # (P, d); zeros when there are no target tokens

    def slopes(self, metric: str, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(R, K) first-order effects per unit alpha of ``vectors`` (K, d) under ``weights`` (R, P)."""
        projections = getattr(self, metric) @ np.asarray(vectors, dtype=np.float64).T  # (P, K)
        return statistic(self.scores, metric, weights, numerators=projections)


def passage_gradients(model, layer: int, heldout: Heldout, batch_size: int = 8, device=None) -> PassageGradients:
    """Gradients of every held-out passage's sums with respect to a shift of block ``layer``'s output.

    Only the shift is differentiated (``torch.autograd.grad``), so the model's parameters get no
    ``.grad``. The forward pass is the unsteered model's, so its scores come back too.
    """
    device = model_device(model, device)
    module = decoder_layers(model)[check_layer(model, layer)]
    d = model.config.hidden_size
    targets = target_tensor(heldout, device)
    encoded = heldout.passages
    sums = {k: [] for k in ("loglik", "logodds", "mass")}
    grads = {k: [] for k in ("loglik", "logodds")}
    for input_ids, mask in padded_batches(encoded, batch_size, device):
        shift = torch.zeros(len(input_ids), 1, d, device=device, requires_grad=True)  # (B, 1, d)
        with torch.enable_grad(), added_to_output(module, shift):
            logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits.float()
            terms = position_terms(logits, input_ids, mask, targets)
            for key in grads:
                if key in terms:
                    # Passages do not interact, so the gradient of the batch's total with respect to
                    # passage b's own shift is passage b's gradient.
                    (grad,) = torch.autograd.grad(terms[key].sum(), shift, retain_graph=key == "loglik")
                    grads[key].append(grad[:, 0].double().cpu())
                else:
                    grads[key].append(torch.zeros(len(input_ids), d, dtype=torch.float64))
        for key in sums:
            sums[key].append(terms[key].detach().double().cpu() if key in terms else torch.zeros(len(input_ids)))
    n_predicted, n_positions = counts(encoded)
    joined = {k: torch.cat(v).numpy() for k, v in sums.items()}
    scores = PassageScores(is_positive=heldout.is_positive, n_predicted=n_predicted, n_positions=n_positions,
                           has_targets=targets is not None, **joined)
    return PassageGradients(scores=scores, loglik=torch.cat(grads["loglik"]).numpy(),
                            logodds=torch.cat(grads["logodds"]).numpy())
