"""Which inputs drove a prediction, distillation and adversarial robustness.

Attributions (integrated gradients, gradient × input, saliency, occlusion, permutation importance)
through captum, per feature, pixel, position or atom; FGSM and PGD attacks and accuracy against ε;
knowledge distillation of a teacher (or ensemble) into a small student.
"""

from deepsci.explain.adversarial import ATTACKS, RobustnessCurve, adversarial_augment, attack, fgsm, pgd, robustness_curve
from deepsci.explain.attributions import METHODS, Attributions, attribute
from deepsci.explain.distill import DistillationResult, distill, distillation_loss, soft_targets
from deepsci.explain.explanation import Explanation, explain_split

__all__ = ["ATTACKS", "METHODS", "Attributions", "DistillationResult", "Explanation", "RobustnessCurve",
           "adversarial_augment", "attack", "attribute", "distill", "distillation_loss", "explain_split", "fgsm",
           "pgd", "robustness_curve", "soft_targets"]
