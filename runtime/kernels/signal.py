"""Signal-processing kernels (numpy): signal.dft, signal.stft (semantics in
`compiler/ops/signal.py`). Both go through numpy's FFT at the input's
precision (complex64 for f16/f32 signals, complex128 for f64) and return the
input's float dtype.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _to_complex(x: np.ndarray) -> np.ndarray:
    """[..., 1] or [..., 2] -> complex [...] (complex64 unless x is f64)."""
    ctype = np.complex128 if x.dtype == np.float64 else np.complex64
    z = x[..., 0].astype(ctype)
    if x.shape[-1] == 2:
        z = z + 1j * x[..., 1].astype(ctype)
    return z


def _from_complex(z: np.ndarray, dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


@kernel("signal.dft")
def dft(x, *, axis, length=0, inverse=False, onesided=False):
    axis %= x.ndim
    size = x.shape[axis]
    z = _to_complex(x)
    if inverse and onesided:
        n = length or 2 * (size - 1)
        return np.fft.irfft(z, n=n, axis=axis)[..., None].astype(x.dtype)
    n = length or size
    if inverse:
        return _from_complex(np.fft.ifft(z, n=n, axis=axis), x.dtype)
    spec = np.fft.fft(z, n=n, axis=axis)
    if onesided:
        spec = np.take(spec, np.arange(n // 2 + 1), axis=axis)
    return _from_complex(spec, x.dtype)


@kernel("signal.stft")
def stft(signal, window=None, *, frame_step, frame_length, onesided=True):
    z = _to_complex(signal)                                    # [B, L]
    frames = (z.shape[1] - frame_length) // frame_step + 1
    starts = np.arange(frames) * frame_step
    framed = z[:, starts[:, None] + np.arange(frame_length)]  # [B, frames, frame_length]
    if window is not None:
        framed = framed * window.astype(framed.real.dtype)
    spec = np.fft.fft(framed, axis=-1)
    if onesided:
        spec = spec[..., :frame_length // 2 + 1]
    return _from_complex(spec, signal.dtype)
