"""Which inputs drove a prediction, distillation and adversarial robustness (issue 15)."""
