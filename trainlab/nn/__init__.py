"""The nn layer: the building blocks models are made of: activations (incl. Maxout), initializers,
normalization, dropout, whitening. Imports only the ground floor.

    >>> from trainlab.nn.activations import create_activation
    >>> from trainlab.nn.layers import create_norm, create_dropout
    >>> from trainlab.nn.init import init_model

Submodules own their registries (ACTIVATIONS, NORMS, INITS).
"""
