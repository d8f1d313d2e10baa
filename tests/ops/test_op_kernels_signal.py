"""Kernels of signal.dft and signal.stft against numpy references written here.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses). The references evaluate the DFT's definition,
sum_j x[j] * exp(-+2 pi i j k / n), term by term with `cmath` (no FFT).
"""
from __future__ import annotations

import cmath

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from test_op_kernels import F64, case, params, randn, run_case, within


def _dft_1d(values, n, inverse=False):
    """The length-n DFT of a list of complex values (cut or zero-padded to n)."""
    values = (list(values) + [0j] * n)[:n]
    sign = 1 if inverse else -1
    out = [sum(v * cmath.exp(sign * 2j * cmath.pi * j * k / n) for j, v in enumerate(values))
           for k in range(n)]
    return [o / n for o in out] if inverse else out


def _complex(x):
    return x[..., 0] + (1j * x[..., 1] if x.shape[-1] == 2 else 0)


def dft_ref(axis, length=0, inverse=False, onesided=False):
    def ref(x):
        z = np.moveaxis(_complex(x.astype(F64)), axis, -1)
        size = z.shape[-1]
        if inverse and onesided:    # rebuild the full Hermitian spectrum, then invert
            n = length or 2 * (size - 1)
            out = np.zeros(z.shape[:-1] + (n,))
            for idx in np.ndindex(*z.shape[:-1]):
                half = list(z[idx])[:n // 2 + 1] + [0j] * max(0, n // 2 + 1 - size)
                full = [half[k] if k <= n // 2 else half[n - k].conjugate() for k in range(n)]
                out[idx] = [v.real for v in _dft_1d(full, n, inverse=True)]
            return np.moveaxis(out, -1, axis)[..., None]
        n = length or size
        keep = n // 2 + 1 if onesided else n
        out = np.zeros(z.shape[:-1] + (keep,), dtype=complex)
        for idx in np.ndindex(*z.shape[:-1]):
            out[idx] = _dft_1d(z[idx], n, inverse)[:keep]
        out = np.moveaxis(out, -1, axis)
        return np.stack([out.real, out.imag], axis=-1)
    return ref


def stft_ref(step, frame, onesided=True):
    def ref(signal, window=None):
        z = _complex(signal.astype(F64))
        frames = (z.shape[1] - frame) // step + 1
        bins = frame // 2 + 1 if onesided else frame
        out = np.zeros((z.shape[0], frames, bins, 2))
        for b in range(z.shape[0]):
            for f in range(frames):
                seg = [z[b, f * step + j] * (1.0 if window is None else float(window[j]))
                       for j in range(frame)]
                spec = _dft_1d(seg, frame)[:bins]
                out[b, f, :, 0] = [s.real for s in spec]
                out[b, f, :, 1] = [s.imag for s in spec]
        return out
    return ref


CASES = {
    "signal.dft": [
        case("real_axis1", [randn(2, 6, 3, 1)], dft_ref(1), axis=1),
        case("complex_inverse", [randn(2, 5, 2)], dft_ref(1, inverse=True), axis=1, inverse=True),
        case("onesided_padded", [randn(3, 7, 1)], dft_ref(1, length=9, onesided=True), axis=1,
             length=9, onesided=True),
        case("irfft", [randn(2, 4, 2, dtype=F64)], dft_ref(1, inverse=True, onesided=True),
             axis=1, inverse=True, onesided=True),
        case("cut_axis0", [randn(8, 2, 2)], dft_ref(0, length=5), axis=0, length=5),
    ],
    "signal.stft": [
        case("rect_onesided", [randn(2, 20, 1)], stft_ref(4, 8), frame_step=4, frame_length=8),
        case("window_complex_twosided", [randn(1, 17, 2), randn(6)],
             stft_ref(3, 6, onesided=False), frame_step=3, frame_length=6, onesided=False),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, within(rtol=1e-4, atol=1e-4))


def test_dft_rejects_the_trailing_axis_and_real_onesided_inverse() -> None:
    from compiler.errors import TypeCheckError
    with pytest.raises(TypeCheckError, match="trailing"):
        infer_types("signal.dft", [TensorType((4, 2), "f32")], {"axis": 1})
    with pytest.raises(TypeCheckError, match="complex spectrum"):
        infer_types("signal.dft", [TensorType((4, 1), "f32")],
                    {"axis": 0, "inverse": True, "onesided": True})
