"""Converters for ONNX signal ops: DFT, STFT, the window functions, MelWeightMatrix.

DFT and STFT map to `signal.dft` / `signal.stft` (`compiler/ops/signal.py`);
their lengths, axis and frame step must be known at compile time (they fix
the result's shape). The window functions and MelWeightMatrix depend only on
their (compile-time) sizes, so they become constants here: a Hann window of
a given length is data, not computation.
"""
from __future__ import annotations

import numpy as np

from .registry import converter


def _scalar_int(n, i: int, what: str) -> int:
    vals = n.require_ints(i, what)
    if len(vals) != 1:
        n.fail(f"the {what} (input {i}) must be a scalar, got {vals}")
    return int(vals[0])


def _out_dtype(n, default: int = 1) -> np.dtype:
    import onnx
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(
            int(n.attr("output_datatype", default))))
    except (KeyError, TypeError, ValueError):
        n.fail(f"output_datatype={n.attr('output_datatype')} is not a supported element type")


@converter("DFT", since=17)
def dft(n):
    x = n.input(0)
    if n.opset >= 20:
        axis = _scalar_int(n, 2, "axis") if n.has_input(2) else -2
    else:
        axis = int(n.attr("axis", 1))
    if not -x.type.rank <= axis < x.type.rank:
        n.fail(f"axis {axis} is out of range for {x.type}")
    length = _scalar_int(n, 1, "dft_length") if n.has_input(1) else 0
    return n.op("signal.dft", [x], {"axis": axis % x.type.rank, "length": length,
                                    "inverse": bool(n.attr("inverse", 0)),
                                    "onesided": bool(n.attr("onesided", 0))})


@converter("STFT", since=17)
def stft(n):
    x, window = n.input(0), n.optional_input(2)
    step = _scalar_int(n, 1, "frame_step")
    if n.has_input(3):
        frame = _scalar_int(n, 3, "frame_length")
    elif window is not None and isinstance(window.type.shape[0], int):
        frame = window.type.shape[0]
    else:
        n.fail("the frame length is unknown: give frame_length (input 3) or a window")
    operands = [x] + ([window] if window is not None else [])
    return n.op("signal.stft", operands, {"frame_step": step, "frame_length": frame,
                                          "onesided": bool(n.attr("onesided", 1))})


def _window(n, formula):
    """A window of the size in input 0: formula(k / N) for k = 0..size-1, where N is the size
    (periodic) or size - 1 (symmetric)."""
    size = _scalar_int(n, 0, "window size")
    if size < 0:
        n.fail(f"the window size must be >= 0, got {size}")
    span = size if n.attr("periodic", 1) else size - 1
    phase = np.arange(size, dtype=np.float64) / (span if span else 1)
    return n.constant(formula(2 * np.pi * phase).astype(_out_dtype(n)))


@converter("HannWindow", since=17)
def hann_window(n):
    return _window(n, lambda t: 0.5 - 0.5 * np.cos(t))


@converter("HammingWindow", since=17)
def hamming_window(n):
    return _window(n, lambda t: 25 / 46 - 21 / 46 * np.cos(t))


@converter("BlackmanWindow", since=17)
def blackman_window(n):
    return _window(n, lambda t: 0.42 - 0.5 * np.cos(t) + 0.08 * np.cos(2 * t))


@converter("MelWeightMatrix", since=17)
def mel_weight_matrix(n):
    """Triangular filters [dft_length // 2 + 1, num_mel_bins], evenly spaced on the mel scale
    between the edge frequencies, their corners rounded down to DFT bins (ONNX's definition)."""
    mels = _scalar_int(n, 0, "num_mel_bins")
    length = _scalar_int(n, 1, "dft_length")
    rate = _scalar_int(n, 2, "sample_rate")
    edges = []
    for i, what in ((3, "lower_edge_hertz"), (4, "upper_edge_hertz")):
        v = n.const(i)
        if v is None:
            n.fail(f"the {what} (input {i}) must be known at compile time")
        edges.append(float(np.asarray(v).reshape(-1)[0]))
    if mels < 1 or length < 1 or rate < 1:
        n.fail(f"num_mel_bins, dft_length and sample_rate must be >= 1, got {mels}, {length}, "
               f"{rate}")

    def to_mel(hz):
        return 2595 * np.log10(1 + hz / 700)

    lo, hi = to_mel(edges[0]), to_mel(edges[1])
    points = lo + np.arange(mels + 2) * (hi - lo) / (mels + 2)
    hz = 700 * (10 ** (points / 2595) - 1)
    corner = ((length + 1) * hz // rate).astype(np.int64)   # left, center, right per filter
    bins = np.arange(length // 2 + 1)[:, None]
    left, center, right = corner[:-2], corner[1:-1], corner[2:]
    rise = np.where(center > left, (bins - left) / np.maximum(center - left, 1),
                    (bins == center).astype(np.float64))
    fall = (right - bins) / np.maximum(right - center, 1)
    out = np.where((bins >= left) & (bins <= center), rise, 0.0)
    out = np.where((bins > center) & (bins < right), fall, out)
    return n.constant(out.astype(_out_dtype(n)))
