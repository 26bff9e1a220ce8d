"""The one compiled module, neurenix._accel._fused (see the header of its C source); pyproject.toml has the rest.

-ffp-contract=off keeps a * b + c two roundings, as numpy computes it, so that the loops give numpy's bits;
-fno-math-errno lets sqrt vectorise. The module is optional: where no C compiler is found the install goes on
without it, and neurenix/_accel/loops.py runs the same loops in numpy (neurenix/_accel/fused_numpy.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "neurenix._accel._fused",
            sources=["neurenix/_accel/_fused.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"],
            optional=True,
        )
    ]
)
