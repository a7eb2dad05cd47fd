"""grid.yaml -> validated GridSpec -> list[TrialSpec]. Pure: no Ray, no store, no data.

`load_grid(path)` parses and validates a grid file; every problem becomes one `GridError` that
names the field path, the bad value and what is allowed (`grid.k[2]: 0 is not in 1..256`).
`expand(grid)` turns it into frozen, deduplicated TrialSpecs with these rules (all read from each
method's `MethodInfo`, never from its name):

- a method without variants (the baselines) has variant None;
- a zero-shot trial (`MethodInfo.is_zero_shot(variant)`: tallrec AT, icl) ignores K and train mix:
  k = 0, train_mix = None, one trial per seed;
- `spec.params` holds `{block: dump}` for exactly the blocks `MethodInfo.blocks_for(variant)`
  names (per-method `overrides` merged in), `spec.model` the model block only when `uses_llm`.

Modules: `schema` (the pydantic models), `load` (YAML), `errors` (field-path messages), `checks`
(semantic checks), `expand`. Import the public names from here.
"""
from harness.grid.errors import GridError
from harness.grid.expand import expand
from harness.grid.load import load_grid, parse_grid
from harness.grid.schema import BLOCKS, GridSpec, selected_variants

__all__ = ["BLOCKS", "GridError", "GridSpec", "expand", "load_grid", "parse_grid", "selected_variants"]
