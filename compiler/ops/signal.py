"""Signal-processing ops: the discrete Fourier transform and the short-time Fourier transform.

Complex numbers are stored as ONNX stores them: a trailing dim of 2 (real,
imaginary); a real signal has a trailing dim of 1. So a signal is
[..., 1] or [..., 2] and a spectrum is [..., 2].

- `signal.dft` transforms along one `axis` (not the trailing one) at
  `length` points (the signal is cut or zero-padded to it). `onesided` keeps
  the length // 2 + 1 non-negative frequencies of a forward transform; an
  inverse `onesided` transform takes those frequencies of a real signal and
  returns the real signal ([..., 1], Hermitian symmetry fills in the rest).
  Inverse transforms divide by `length`.
- `signal.stft` cuts a signal [B, L, 1|2] into frames of `frame_length`
  every `frame_step` samples, multiplies each by the optional window
  [frame_length] and transforms it: [B, frames, bins, 2] with frames =
  (L - frame_length) // frame_step + 1 and bins = frame_length (or
  frame_length // 2 + 1 when onesided).
"""
from __future__ import annotations

from math import log2, prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, normalize_axis, require_float, static


def _check_signal(op: str, x: TensorType) -> None:
    require_float(x, f"{op}: the signal")
    if x.rank < 2 or x.shape[-1] not in (1, 2):
        raise ShapeError(f"{op}: the signal must be [..., 1] (real) or [..., 2] (complex), got "
                         f"{fmt_shape(x.shape)}")


def _fft_flops(points: int, transforms: int) -> int:
    return int(5 * points * max(1.0, log2(max(points, 2))) * transforms)


def _dft_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    _check_signal("dft", x)
    axis = normalize_axis(attrs["axis"], x.rank, "dft: axis")
    if axis == x.rank - 1:
        raise ShapeError("dft: axis must not be the trailing (real, imaginary) dim")
    size = static(x.shape[axis], "dft: the transformed dim")
    inverse, onesided = attrs["inverse"], attrs["onesided"]
    if inverse and onesided and x.shape[-1] != 2:
        raise ShapeError("dft: an inverse one-sided transform takes a complex spectrum [..., 2]")
    length = attrs["length"] or (2 * (size - 1) if inverse and onesided else size)
    if length < 1:
        raise ShapeError(f"dft: length must be >= 1, got {length}")
    shape = list(x.shape)
    if inverse and onesided:
        shape[axis], shape[-1] = length, 1
    else:
        shape[axis], shape[-1] = (length // 2 + 1 if onesided else length), 2
    return [TensorType(tuple(shape), x.dtype)]


def _dft_flops(ins, outs, attrs) -> int:
    x = ins[0]
    axis = attrs["axis"] % x.rank
    points = max(outs[0].shape[axis], x.shape[axis])
    return _fft_flops(points, prod(x.shape[:-1]) // x.shape[axis])


define("signal.dft", ["x"], _dft_infer, _dft_flops, "opaque",
       "Discrete Fourier transform of a real [..., 1] or complex [..., 2] signal along `axis`, "
       "as a complex [..., 2] spectrum (an inverse one-sided transform returns the real "
       "signal [..., 1]); see compiler/ops/signal.py.",
       [Attr("axis", "int", doc="the transformed dim (not the trailing one)"),
        Attr("length", "int", 0,
             "number of points; the signal is cut or zero-padded to it. 0: the dim's size "
             "(2 * (size - 1) for an inverse one-sided transform)"),
        Attr("inverse", "bool", False, "the inverse transform (divided by length)"),
        Attr("onesided", "bool", False,
             "forward: keep the length // 2 + 1 non-negative frequencies; inverse: those are "
             "the input, and the result is real")])


def _stft_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    window = ins[1] if len(ins) > 1 else None
    _check_signal("stft", x)
    if x.rank != 3:
        raise ShapeError(f"stft: the signal must be [batch, length, 1 or 2], got {x}")
    step, frame = attrs["frame_step"], attrs["frame_length"]
    if step < 1 or frame < 1:
        raise ShapeError(f"stft: frame_step and frame_length must be >= 1, got {step}, {frame}")
    length = static(x.shape[1], "stft: the signal length")
    if frame > length:
        raise ShapeError(f"stft: frame_length {frame} is longer than the signal ({length})")
    if window is not None and (window.rank != 1 or window.shape[0] != frame
                               or window.dtype != x.dtype):
        raise ShapeError(f"stft: the window must be {x.dtype}[{frame}] (one weight per frame "
                         f"sample), got {window}")
    if attrs["onesided"] and x.shape[-1] == 2:
        raise ShapeError("stft: a one-sided transform needs a real signal [..., 1]")
    frames = (length - frame) // step + 1
    bins = frame // 2 + 1 if attrs["onesided"] else frame
    return [TensorType((x.shape[0], frames, bins, 2), x.dtype)]


define("signal.stft", ["signal", "window?"], _stft_infer,
       lambda ins, outs, attrs: _fft_flops(attrs["frame_length"], prod(outs[0].shape[:2])),
       "opaque",
       "Short-time Fourier transform of a signal [B, L, 1 or 2]: frames of frame_length every "
       "frame_step samples, each times the optional window, transformed: [B, frames, bins, 2] "
       "(see compiler/ops/signal.py).",
       [Attr("frame_step", "int", doc="samples between the starts of consecutive frames"),
        Attr("frame_length", "int", doc="samples per frame (the transform length)"),
        Attr("onesided", "bool", True,
             "keep the frame_length // 2 + 1 non-negative frequencies (real signals only)")])
