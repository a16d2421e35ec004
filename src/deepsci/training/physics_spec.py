"""The parameters of the differential equations deepsci ships for physics-informed training, as validated values.

One pydantic type per shipped problem (`PROBLEM_SPECS`, keyed by the name `[train] physics` takes): its keys,
their defaults and their checks are declared here once, and read both by the config (`[physics]`,
deepsci.config.physics) and by the problem builders (deepsci.training.equations). The options of the fit that
the config and the library share (`CONSTRAINTS`, `SMOOTH_ACTIVATIONS`) live here too.

This module imports pydantic, not torch: the config reads it at the edge, before torch is imported.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from deepsci.section import Section

__all__ = ["CONSTRAINTS", "HeatSpec", "OscillatorSpec", "PROBLEM_SPECS", "SMOOTH_ACTIVATIONS"]

#: how the boundary and initial conditions enter: "hard" builds them into the solution (an ansatz that meets
#: them whatever the network outputs), "soft" adds their squared residuals to the loss
CONSTRAINTS: tuple[str, ...] = ("hard", "soft")
#: activations with a non-zero, continuous second derivative: a residual with u'' (the oscillator, the heat
#: equation) is identically 0 through relu, leaky-relu, linear or maxout pieces, so those cannot learn it
SMOOTH_ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "gelu", "silu", "softplus")


class OscillatorSpec(Section):
    """A damped harmonic oscillator m x'' + c x' + k x = 0 on t in [0, t_end], x(0) = x0, x'(0) = v0.

    Units are the user's, consistent ones (e.g. kg, kg/s, N/m, m, m/s, s). The closed form deepsci compares
    with is the underdamped one, so c^2 < 4 m k is required.
    """

    mass: float = Field(1.0, gt=0.0, description="m")
    damping: float = Field(0.4, ge=0.0, description="c")
    stiffness: float = Field(4.0, gt=0.0, description="k")
    x0: float = Field(1.0, description="initial displacement x(0)")
    v0: float = Field(0.0, description="initial velocity x'(0)")
    t_end: float = Field(5.0, gt=0.0, description="end of the time domain")

    @model_validator(mode="after")
    def _underdamped(self) -> "OscillatorSpec":
        if self.damping ** 2 >= 4.0 * self.mass * self.stiffness:
            raise ValueError(f"physics.damping = {self.damping} with mass = {self.mass} and stiffness = "
                             f"{self.stiffness} is critically or over-damped (c^2 >= 4 m k); the closed form "
                             "shipped is the underdamped one: lower damping below "
                             f"{2.0 * (self.mass * self.stiffness) ** 0.5:.4g}")
        if self.x0 == 0.0 and self.v0 == 0.0:
            raise ValueError("physics.x0 = physics.v0 = 0: the solution is x = 0 and a relative error is undefined; "
                             "give a non-zero initial displacement or velocity")
        return self


class HeatSpec(Section):
    """The 1-D heat equation u_t = alpha u_xx on x in [0, 1], t in [0, t_end], u(x, 0) = sin(pi x),
    u(0, t) = u(1, t) = 0; alpha is the diffusivity (length^2 / time)."""

    alpha: float = Field(0.1, gt=0.0, description="diffusivity")
    t_end: float = Field(1.0, gt=0.0, description="end of the time domain")


#: the problems deepsci ships, by the name `[train] physics` takes
PROBLEM_SPECS: dict[str, type[Section]] = {"oscillator": OscillatorSpec, "heat": HeatSpec}
