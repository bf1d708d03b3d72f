"""The `i2i` command line: one module per command; each parses, builds objects and calls the library.
It may import every subpackage (inside the commands, so that each pays only for what it uses).

User mistakes (bad option, missing file, bad recipe key) print one line and exit with status 2.
Heavy imports (torch) happen inside the commands that need them, so `i2i translate model.onnx …`
runs on numpy + onnxruntime alone.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.core

from i2i.errors import I2IError


class _OneLineErrors(typer.core.TyperGroup):
    """Runs the command group and turns usage errors and I2IErrors into one line + exit status 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        args = _optional_values(list(sys.argv[1:] if args is None else args))
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as error:  # Typer's usage errors (bad option, missing argument, …)
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "i2i"
            _fail(f"{error.format_message()} (see `{command} --help`)")
        except I2IError as error:
            _fail(str(error))
        except typer.Abort:
            print("aborted", file=sys.stderr)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


# Options whose value is optional: `--resume` alone means "yes", `--resume auto` gives the value. Click
# would take the next token as the value whatever it is (`--resume --steps 10`), so the command line is
# spelt out as `--resume=VALUE` before it is parsed.
OPTIONAL_VALUES = {"--resume": ("yes", ("auto",))}


def _optional_values(args: list[str]) -> list[str]:
    spelt: list[str] = []
    tokens = iter(range(len(args)))
    for index in tokens:
        token = args[index]
        if token in OPTIONAL_VALUES:
            default, values = OPTIONAL_VALUES[token]
            if index + 1 < len(args) and args[index + 1] in values:
                spelt.append(f"{token}={args[index + 1]}")
                next(tokens, None)
                continue
            spelt.append(f"{token}={default}")
            continue
        spelt.append(token)
    return spelt


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


app = typer.Typer(
    cls=_OneLineErrors,
    name="i2i",
    help="Image-to-image translation with GANs: train, translate, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

from i2i.cli import data as _data  # noqa: E402  (the commands register themselves on `app`)
from i2i.cli import eval as _eval  # noqa: E402
from i2i.cli import export as _export  # noqa: E402
from i2i.cli import train as _train  # noqa: E402
from i2i.cli import translate as _translate  # noqa: E402
from i2i.cli import weights as _weights  # noqa: E402

app.add_typer(_data.app, name="data")
app.add_typer(_weights.app, name="weights")


def main() -> None:
    app()
