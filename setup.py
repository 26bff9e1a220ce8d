"""The one compiled module, neurenix._fused (see the header of neurenix/_fused.c); pyproject.toml has the rest.

-ffp-contract=off keeps a * b + c two roundings, as numpy computes it, so that the loops give numpy's bits;
-fno-math-errno lets sqrt vectorise.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "neurenix._fused",
            sources=["neurenix/_fused.c"],
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno"],
        )
    ]
)
