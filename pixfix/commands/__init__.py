"""One module per batch subcommand; :mod:`pixfix.cli` registers them on the typer app."""
