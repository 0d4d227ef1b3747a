"""The experiments layer: what reproduces and reports the paper's comparisons on top of the core.

- `reproduce`: train every method of a comparison (seeds, overrides), score it, collect results;
- `report`, `paired`: the results tables, figures and paired-by-seed statistics;
- `benchmark_scores`, `task_eval`: scoring checkpoints on code benchmarks and on task test files;
- `synthetic`, `pretrain`: the CPU experiments' synthetic data and their pretrained base model.

Layers import downwards only: this package may import the core (`mft`, `data_pipeline`) and
`eval`; the core never imports it, nor `eval` (tests/test_layers.py checks both).
"""
