"""The runner's tasks, one module per task kind (``experiments.run.TASKS``): each has
``run(cfg, out_dir) -> metrics`` and ``check(cfg)`` (every check that needs no data)."""
