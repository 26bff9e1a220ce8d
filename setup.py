"""The one compiled module, neurenix._fused (see the header of neurenix/_fused.c); pyproject.toml has the rest.

-ffp-contract=off keeps a * b + c two roundings, as numpy computes it, so that the loops give numpy's bits;
-fno-math-errno lets sqrt vectorise. The module is optional: where no C compiler is found the install goes on
without it, and neurenix/_loops.py runs the same loops in numpy (neurenix/_fused_numpy.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "neurenix._fused",
            sources=["neurenix/_fused.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"],
            optional=True,
        )
    ]
)
