"""Everything the engine does only to be fast, in one place, behind the names below.

The engine, the layers, the optimizers and the loop read as their textbook versions and call these:

- fused elementwise loops (`loops`: the C module `_fused`, else its numpy twin `fused_numpy`, with the same bits):
  `loops_for(*arrays)` picks the module for the arrays at hand; `relu_backward` is a ReLU layer's backward (with
  each unit's activity, for dead-unit skipping), `put_columns` a scattered weight gradient's write and `col2im`
  a convolution's input gradient (the scatter-add of its windows' gradients; `blocks.col2im` cuts it by image);
  `flush_subnormals` keeps the optimizers' decaying states out of the slow subnormal range, as Adam's loop does;
- deferred weight gradients (`products`): `Product`, `ScatteredProduct`, written straight into optimizer storage
  by `gradient_array`, the engine's one call per gradient in `Tensor.backward`;
- flat parameter buffers (`flat`): `FlatParameters`, `flat_owner`, `flat_data`;
- dead-unit skipping (`dead_units`): `exact_skipping`, `units_to_keep` (`live_units` where
  `keeps_bits`), `skipped_widths`;
- a convolution's products and window copies cut into fixed blocks that one thread or several compute with
  the same bits (`blocks`: `blocks.matmul`, `blocks.contiguous`, `blocks.col2im`, `block_threads`);
- process settings (`runtime`): `configure_runtime` (public as `neurenix.configure_runtime`), the BLAS threads
  of gradient steps (`update_threads`, from `gradient_matmuls`), `blas_threads`, `available_cores`.

This package imports only numpy, threadpoolctl and the standard library: `tensor ← nn ← optim ← rl` all may
import it, and it imports none of them.
"""

from neurenix._accel import blocks
from neurenix._accel.blocks import block_threads
from neurenix._accel.dead_units import exact_skipping, keeps_bits, live_units, skipped_widths, units_to_keep
from neurenix._accel.flat import FlatParameters, flat_data, flat_owner
from neurenix._accel.fused_numpy import flush_subnormals
from neurenix._accel.loops import COMPILED, loops_for, put_columns, relu_backward
from neurenix._accel.products import Product, ScatteredProduct, gradient_array
from neurenix._accel.runtime import (
    Runtime,
    UpdateThreads,
    available_cores,
    blas_threads,
    configure_runtime,
    gradient_matmuls,
    training_blas_threads,
    update_threads,
)

__all__ = [
    "COMPILED",
    "FlatParameters",
    "Product",
    "Runtime",
    "ScatteredProduct",
    "UpdateThreads",
    "available_cores",
    "blas_threads",
    "block_threads",
    "blocks",
    "configure_runtime",
    "exact_skipping",
    "flat_data",
    "flat_owner",
    "flush_subnormals",
    "gradient_array",
    "gradient_matmuls",
    "keeps_bits",
    "live_units",
    "units_to_keep",
    "loops_for",
    "put_columns",
    "relu_backward",
    "skipped_widths",
    "training_blas_threads",
    "update_threads",
]
