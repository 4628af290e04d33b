"""fjax: JAX for financial machine learning (see README.md).

The command line is `fjax run|sweep forecast|credit|fraud` (`fjax.cli`). In Python:
`fjax.train` (the pure train step, `fit`, `train_population`), `fjax.models`
(`build_model`), `fjax.optim` (`build_optimizer`), `fjax.losses` and `fjax.metrics`
(sample-weighted, jit- and vmap-safe), `fjax.config` (the configs) and `fjax.tasks` (the
three domains end to end). Importing `fjax` itself loads none of them.
"""
