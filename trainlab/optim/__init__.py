"""The optim layer: optimization techniques as gradient-transformation links and chains, optimizer
recipes, learning-rate schedules and weight penalties. Imports only the ground floor.

    >>> from trainlab.optim.recipes import create_optimizer     # sgd ... adamw, or a chain spec
    >>> from trainlab.optim.schedules import create_schedule    # pure t -> lr functions
    >>> from trainlab.optim.penalties import create_penalty     # strength * R(W) for the loss
    >>> from trainlab.optim.transforms import chain, scale_by_adam, scale_by_lr

Each submodule owns its registry: OPTIMIZERS, TRANSFORMS, SCHEDULES, PENALTIES.
`ChainOptimizer` (the torch.optim.Optimizer that runs a chain) is in optimizer.py; the link
protocol (`GradientTransformation`, `chain`) and the links' shared helpers are in base.py.
"""
