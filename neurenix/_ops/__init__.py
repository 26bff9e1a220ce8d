"""The Tensor's ops by family, each forward beside its local backward: `arithmetic` (operators, matmul,
elementwise math, comparisons), `reductions` (sum, mean, var, max/min, softmaxes), `shapes` (reshape, transpose,
indexing, gather, cat, stack, where).

Each module holds one mixin without state (`__slots__ = ()`) that `neurenix.tensor.Tensor` inherits, so an op is
a plain method of the class. The ops call the engine's core (`from_op`, the `Tensor` class, broadcasting)
through the module `neurenix.tensor`, looked up when an op runs: `tensor.py` imports these modules to define
`Tensor`, so they cannot take names from it when they are imported. Import the public names from
`neurenix.tensor`, never from here.
"""
