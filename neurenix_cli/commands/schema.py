"""`neurenix schema`: the config format as a JSON Schema, for YAML editors (completion and validation)."""

from __future__ import annotations

import json


def schema() -> None:
    """Print a JSON Schema (draft 2020-12) of the config format: `neurenix schema > neurenix.schema.json`.

    It is generated from the validation rules and every registered algorithm's constructor, so the agent keys
    an editor offers are the ones `neurenix train` accepts for the chosen algorithm.
    """
    import typer

    from neurenix_cli.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
