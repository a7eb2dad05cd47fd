"""The loop over a whole grid: `runner` (plan_run, run_grid, run_directory), the DuckDB `store`,
the run `journal` (results kept until the store has them), `validate` (every file read back from
a run folder is checked), `rundirs` (where a store's run folders are: local configuration only)
and the `progress` view. The CLI, the tests and the benches call `run_grid`. `estimate`: a grid's
wall time and device-hours predicted from the costs of stored trials (`harness estimate`)."""
