"""The runner's YAML configs. Importing this package registers the settings' schemas
(:func:`experiments.tasks.register`) with Hydra's ConfigStore, which the YAML files extend:
``python -m experiments.run`` imports it, and so does Hydra's
``initialize_config_module("experiments.conf")``."""

from experiments.tasks import register

register()
