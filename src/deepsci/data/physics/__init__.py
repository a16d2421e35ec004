"""Physics simulators: galaxy photometry, strong-lens images and collider events, generated offline.

Each module states its physics, parameters and sources in its docstring (and in docs/physics.md);
each simulation is drawn from one seed and cached on disk (`deepsci.data.physics.cache`).
"""

from deepsci.data.physics.collider import simulate_collider
from deepsci.data.physics.galaxies import simulate_galaxies
from deepsci.data.physics.lenses import simulate_lenses

__all__ = ["simulate_collider", "simulate_galaxies", "simulate_lenses"]
