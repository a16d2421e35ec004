"""Learning rules: backprop and its random/sign-tied variants, shallow rules, recirculation, CD."""

from deepsci.rules.alignment import (AlignmentCallback, angle_degrees, gradient_angles, make_alignment_callback,
                                     plot_alignment)
from deepsci.rules.autoencoding import RecirculationResult, fit_autoencoder, fit_recirculation, recirculation_step
from deepsci.rules.contrastive import RBMHistory, cd_gradients, fit_rbm
from deepsci.rules.feedback import RULES, RuleLinear, apply_rule, rule_layers, rule_of, true_gradient_mode
from deepsci.rules.shallow import (DeltaResult, OjaResult, PerceptronResult, delta_fit, delta_update,
                                   hebbian_update, linearly_separable, oja_fit, oja_update, perceptron_fit,
                                   perceptron_update)

__all__ = ["AlignmentCallback", "DeltaResult", "OjaResult", "PerceptronResult", "RBMHistory", "RULES",
           "RecirculationResult", "RuleLinear", "angle_degrees", "apply_rule", "cd_gradients", "delta_fit",
           "delta_update", "fit_autoencoder", "fit_rbm", "fit_recirculation", "gradient_angles", "hebbian_update",
           "linearly_separable", "make_alignment_callback", "oja_fit", "oja_update", "perceptron_fit",
           "perceptron_update", "plot_alignment", "recirculation_step", "rule_layers", "rule_of",
           "true_gradient_mode"]
