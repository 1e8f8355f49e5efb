"""The command line: the typer app, one module per group of commands, and their help."""
