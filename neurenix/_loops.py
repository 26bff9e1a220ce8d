"""The engine's fused elementwise loops: the C module when the install built it, else its numpy twin.

Both give the same bits, so a run's numbers do not depend on which one is in use; `COMPILED` says which.
Callers look the loops up here at each call (`_loops.adam_step(...)`), so tests can swap in the twin.
"""

try:
    from neurenix._fused import adam_step, add_bias_relu, lerp, relu_backward

    COMPILED = True
except ImportError:  # installed where no C compiler was found: setup.py marks the module optional
    from neurenix._fused_numpy import adam_step, add_bias_relu, lerp, relu_backward

    COMPILED = False

__all__ = ["COMPILED", "adam_step", "add_bias_relu", "lerp", "relu_backward"]
