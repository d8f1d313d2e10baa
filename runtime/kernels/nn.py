"""Dense NN kernels (numpy): matmul, convolution, pooling, normalization, softmax."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("nn.matmul")
def matmul(a, b):
    return np.matmul(a, b)
