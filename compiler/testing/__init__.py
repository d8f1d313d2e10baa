"""Helpers for testing wsc against independent references (ONNX backend suite, onnxruntime)."""
