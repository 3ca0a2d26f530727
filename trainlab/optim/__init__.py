"""The optim layer: optimization techniques as gradient-transformation links and chains, optimizer
recipes, learning-rate schedules and weight penalties. Imports only the ground floor.

    >>> from trainlab.optim.recipes import create_optimizer     # sgd ... adamw, lion, muon, ..., or a chain spec
    >>> from trainlab.optim.schedules import create_schedule    # pure t -> lr functions
    >>> from trainlab.optim.penalties import create_penalty     # strength * R(W) for the loss
    >>> from trainlab.optim.transforms import chain, scale_by_adam, scale_by_lr

Each submodule owns its registry: OPTIMIZERS, TRANSFORMS, SCHEDULES, PENALTIES. The newer links
(modern.py: element-wise; layerwise.py: whole tensors) register in TRANSFORMS and the newer recipes
(modern_recipes.py) in OPTIMIZERS; they are imported here, so the registries are complete whichever
module is imported first. `ChainOptimizer` (the torch.optim.Optimizer that runs a chain) is in
optimizer.py; the link protocol (`GradientTransformation`, `chain`) and the links' shared helpers
are in base.py.
"""
from . import layerwise, modern, modern_recipes  # noqa: F401  (register the newer links and recipes)
