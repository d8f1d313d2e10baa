"""Sparsity: finding the weights, pruning them, and choosing dense or sparse kernels.

The passes `analyze-sparsity`, `prune` and `select-kernels` (in
`compiler/passes/`) are thin: the work lives here, one concept per module.

- `weights.py`: which constants are layer weights (of nn.matmul, nn.conv2d,
  nn.conv3d and the rnn.* ops), their [outputs, reduction] row view, MACs.
- `analysis.py`: measured density, nonzeros, MACs and MACs skipped per weight.
- `spec.py`: the prune spec (``magnitude:0.9,fc3*=0,first=0.5``) parser and
  the per-weight levels it resolves to.
- `masks.py`: exact, deterministic pruning masks: per tensor, per output row,
  one global threshold, N:M.
- `calibration.py`: calibration inputs (an .npz or seeded random arrays) and
  a small interpreter that runs a module's ops with the runtime's kernels.
- `wanda.py`, `sparsegpt.py`: the calibration-based methods.
- `pruner.py`: pruning a module as a spec says, and the report of what changed.
- `costmodel.py`: the measured dense-vs-sparse crossover densities per shape
  class, and the decision (with its reason) for one weight.
- `calibrate.py`: measures the kernels on this machine and writes a cost file
  (``wsc calibrate``); `default_costs.json` is one measured here.
- `storage.py`: a weight's CSR parts as lowering writes them (see the
  sparse-kernel contract in docs/sparsity.md).
- `report.py`: the per-layer sparsity report of an artifact and its text form.
"""
