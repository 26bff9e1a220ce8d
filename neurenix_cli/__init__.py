"""The `neurenix` command line: train, evaluate and list runs of the `neurenix` library from YAML configs.

Scripts (Ray Tune, Optuna, notebooks) call what the CLI calls: `neurenix_cli.config.load_config` and
`neurenix_cli.experiment.train` / `evaluate`.
"""
