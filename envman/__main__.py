"""`python -m envman` and the `envman` console script.

`envman completion --setup` is answered here, before the CLI (and typer) is imported:
completion scripts run it on the first TAB of every shell session.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["completion", "--setup"]:
        from envman.shell.completion_scripts import setup_lines
        from envman.errors import EnvmanError

        try:
            lines = setup_lines()
        except EnvmanError as exc:
            sys.stderr.write(f"envman: error: {exc.message}\n")
            sys.exit(exc.exit_code)
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        return
    from envman.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
