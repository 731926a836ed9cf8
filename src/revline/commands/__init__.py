"""revline.commands: one module per area of the CLI, each with a `register(app)` (see revline.cli).

Why the layers below (store, ingest, ..., api) are imported inside the command functions and
not at the top of these modules: revline.cli imports every command module to build the app, so
a module-level import would be paid by every invocation, `revline --help` included. Measured
(2 cores, load average ~10): `revline --help` takes 0.6-0.7 s as it is, and 6.5-7.2 s with the
commands' imports at module level (jax, numpyro, ibis, pandas, uvicorn, ...). Each command
loads what it uses.
"""
