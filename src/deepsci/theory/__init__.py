"""The theory of deep networks, computed: Gaussian expectations, kernel recursions, criticality,
probes of real networks at initialisation, and infinite-width NNGP/NTK kernels."""

from deepsci.theory.activation import Activation, resolve_activation
from deepsci.theory.criticality import CriticalPoint, critical, critical_init
from deepsci.theory.gaussian import gaussian_expectation, gaussian_expectation_2d, hermite_rule
from deepsci.theory.kernels import empirical_ntk, kernel_matrix, kernel_regression, nngp_ntk, ntk_scales
from deepsci.theory.probes import ProbeResult, mlp_plan, probe, probe_mlp
from deepsci.theory.recursion import (PairKernel, chi_parallel, chi_perp, fixed_point, kernel_map, pair_step,
                                      propagate_pair, propagate_variance, vertex_recursion)

__all__ = ["Activation", "CriticalPoint", "PairKernel", "ProbeResult", "chi_parallel", "chi_perp", "critical",
           "critical_init", "empirical_ntk", "fixed_point", "gaussian_expectation", "gaussian_expectation_2d",
           "hermite_rule", "kernel_map", "kernel_matrix", "kernel_regression", "mlp_plan", "nngp_ntk", "ntk_scales",
           "pair_step", "probe", "probe_mlp", "propagate_pair", "propagate_variance", "resolve_activation",
           "vertex_recursion"]
