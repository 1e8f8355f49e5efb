"""Each shell's quote(), round-tripped through the real shell: whatever the text, the
shell must print it back byte for byte. A batch of texts goes to one shell process.
QUOTING_EXAMPLES=400 runs a longer search than the suite's 60 examples per shell."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envman.shell.activation import csh, fish, nushell, posix, powershell, xonsh
from shellkit import need_shell, run_script, shell_environ

SETTINGS = settings(max_examples=int(os.environ.get("QUOTING_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def texts(excluded: str = "") -> st.SearchStrategy[List[str]]:
    """Lists of arbitrary text: every code point but NUL (no shell holds it) and the
    surrogates (not text), with the awkward ASCII characters made likely."""
    tricky = st.sampled_from(list("'\"\\$`!%#;&|<>(){}[]*?~^ \t\n\r-=@:,.\u2018\u2019\u201a\u201b")
                             + ["é", "日本", "\u00a0", "\u2028", "\x7f", "\x1b"])
    # Sequences that end or escape a quoted string in one shell or another.
    breakers = st.sampled_from(["\\\\", "\\'", "'\\''", "'#", "'##", "\\!", "!!", "$(", "${", "%%",
                                "\\\n", "'\"'\"'", "`", "''", "\u2019\u2019"])
    one = st.one_of(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), tricky, breakers)
    text = st.lists(one, max_size=24).map("".join).filter(lambda t: not any(c in t for c in excluded))
    return st.lists(text, min_size=1, max_size=8)


def expected(values: List[str]) -> bytes:
    return b"".join(v.encode() + b"\0" for v in values)


def round_trip(shell: str, script: Callable[[Path, List[str]], str], values: List[str]) -> None:
    need_shell(shell)
    with tempfile.TemporaryDirectory() as tmp:
        done = run_script(shell, script(Path(tmp), values), Path(tmp) / "script", shell_environ())
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == expected(values), (values, done.stdout, done.stderr)


@pytest.mark.parametrize("shell", ["bash", "zsh", "dash", "ksh", "mksh"])
@SETTINGS
@given(values=texts())
def test_posix_quote(shell: str, values: List[str]) -> None:
    round_trip(shell, lambda _, vs: "".join(f"printf '%s\\000' {posix.quote(v)}\n" for v in vs), values)


@SETTINGS
@given(values=texts())
def test_fish_quote(values: List[str]) -> None:
    round_trip("fish", lambda _, vs: "".join(f"printf '%s\\000' {fish.quote(v)}\n" for v in vs), values)


@SETTINGS
@given(values=texts(excluded="\n\r"))
def test_csh_quote_through_eval_of_backquotes(values: List[str]) -> None:
    """As in real use: the quoted words reach csh through ``eval "`...`"``."""

    def script(tmp: Path, vs: List[str]) -> str:
        (tmp / "words").write_bytes("; ".join(f"printf '%s\\000' {csh.quote(v)}" for v in vs).encode())
        return f'eval "`cat {tmp}/words`"\n'

    round_trip("tcsh", script, values)


def test_csh_quote_refuses_a_newline() -> None:
    with pytest.raises(ValueError):
        csh.quote("a\nb")


@SETTINGS
@given(values=texts())
def test_nushell_quote_as_code_and_as_nuon(values: List[str]) -> None:
    """Both readers nushell has: its parser (code) and `from nuon` (what envman prints)."""

    def script(tmp: Path, vs: List[str]) -> str:
        (tmp / "data.nuon").write_bytes(("[" + ", ".join(nushell.quote(v) for v in vs) + "]").encode())
        code = "".join(f"print -n {nushell.quote(v)}; print -n (char -u '0')\n" for v in vs)
        return code + (f"open --raw {tmp}/data.nuon | from nuon | each {{|v| $v + (char -u '0') }}"
                       " | str join | print -n\n")

    need_shell("nu")
    with tempfile.TemporaryDirectory() as tmp:
        done = run_script("nu", script(Path(tmp), values), Path(tmp) / "script.nu", shell_environ())
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == expected(values) * 2, (values, done.stdout, done.stderr)


@SETTINGS
@given(values=texts())
def test_xonsh_quote(values: List[str]) -> None:
    round_trip("xonsh", lambda _, vs: "".join(f"print({xonsh.quote(v)}, end='\\0')\n" for v in vs), values)


@SETTINGS
@given(values=texts())
def test_powershell_quote_in_pwsh(values: List[str]) -> None:
    round_trip("pwsh", lambda _, vs: "".join(
        f"[Console]::Out.Write({powershell.quote(v)} + [char]0)\n" for v in vs), values)


# PowerShell is not installed here: its rules are also checked as text, by reading the
# quoted form back the way PowerShell's tokenizer reads a single-quoted string.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def read_powershell_single_quoted(source: str) -> str:
    """PowerShell's reading of one single-quoted string that must span all of `source`."""
    assert source[0] in _PS_QUOTES, source
    out, i = [], 1
    while True:
        c = source[i]
        if c in _PS_QUOTES:
            if i + 1 < len(source) and source[i + 1] in _PS_QUOTES:
                out.append(c)  # a doubled quote is one literal quote character
                i += 2
                continue
            assert i == len(source) - 1, f"string ends early at {i} in {source!r}"
            return "".join(out)
        out.append(c)
        i += 1


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",))))
def test_powershell_quote_reads_back_as_text(text: str) -> None:
    assert read_powershell_single_quoted(powershell.quote(text)) == text


@pytest.mark.parametrize("text, quoted", [
    ("", "''"),
    ("it's", "'it''s'"),
    ("\u2018x\u2019", "'\u2018\u2018x\u2019\u2019'"),
    ("$(rm -rf ~) `n $env:HOME", "'$(rm -rf ~) `n $env:HOME'"),
])
def test_powershell_quote_examples(text: str, quoted: str) -> None:
    assert powershell.quote(text) == quoted


@pytest.mark.parametrize("text", ["", "'#", "a'##b", "x'#", "#", "##a", "#'#"])
def test_nushell_raw_string_outlasts_any_closing_sequence(text: str) -> None:
    hashes = re.fullmatch(r"r(#+)'.*'(#+)", nushell.quote(text), re.S)
    assert hashes and hashes.group(1) == hashes.group(2)
    assert f"'{hashes.group(1)}" not in text
    assert not text.startswith(hashes.group(1))
