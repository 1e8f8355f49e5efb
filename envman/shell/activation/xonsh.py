"""xonsh: `execx($(envman activate))`.

The snippet is plain Python working on `__xonsh__.env` (never xonsh's subprocess mode,
where strings are expanded), values are Python string literals, and the state to
restore lives in the closure of the `deactivate` alias rather than in variables.
xonsh shows environments itself through its `{env_name}` prompt field, so that field
(not `$PROMPT`) carries the prefix while active.
"""

from __future__ import annotations

from envman.shell.activation import ACTIVATION_VARIABLES, SCRIPTS, TYPE_CHECKING, Shell

if TYPE_CHECKING:
    from typing import List, Mapping

    from envman.shell.activation import Activation


def quote(text: str) -> str:
    """A Python string literal (`repr` escapes quotes, backslashes and controls)."""
    return repr(text)


def _leave(unset: List[str]) -> List[str]:
    return [
        "    _env = __xonsh__.env",
        "    _previous = aliases.get('deactivate')",
        "    if callable(_previous):",
        "        _previous([])",
        "    elif _env.get('VIRTUAL_ENV'):",
        # Activated in a parent shell: only exported variables came through.
        f"        _scripts = os.path.join(_env['VIRTUAL_ENV'], {quote(SCRIPTS)})",
        # This xonsh read PATH from its parent and expands any '$NAME' in it on read.
        "        _forms = (_scripts, os.path.expandvars(_scripts))",
        "        _env['PATH'] = [p for p in _env['PATH'] if p not in _forms]",
        f"        for _name in {tuple(unset)!r}:",
        "            if _name in _env:",
        "                del _env[_name]",
    ]


class Xonsh(Shell):
    def quote(self, text: str) -> str:
        return quote(text)

    def activate(self, act: "Activation", environ: Mapping[str, str]) -> str:
        values = "{" + ", ".join(f"{quote(k)}: {quote(v)}" for k, v in act.set.items()) + "}"
        prepend = "[" + ", ".join(quote(p) for p in act.path_prepend) + "]"
        lines = [
            "def _envman_activate():",
            "    import os",
            *_leave(list(act.set)),
            "    _old_path = list(_env['PATH'])",
            "    _hidden = {}",
            f"    for _name in {tuple(act.unset)!r}:",
            "        if _name in _env:",
            "            _hidden[_name] = _env[_name]",
            "            del _env[_name]",
            f"    _env.update({values})",
            # xonsh expands $NAME in PATH entries on every read (EXPAND_ENV_VARS), with
            # no escape: a '$' is spelled as a variable whose value is '$'.
            "    _env['_ENVMAN_DOLLAR'] = '$'",
            "    _literal = (lambda p: p.replace('$', \"${'_ENVMAN_DOLLAR'}\")) if _env.get('EXPAND_ENV_VARS') else str",
            f"    _env['PATH'] = [_literal(p) for p in {prepend}] + _old_path",
            "    _fields = _env['PROMPT_FIELDS']",
            "    _old_field = _fields.get('env_name')",
            f"    _prefix = {quote(act.prompt_prefix)}",
            "    _fields['env_name'] = lambda: '' if _env.get('VIRTUAL_ENV_DISABLE_PROMPT') else _prefix",
            "    def deactivate(args=None):",
            "        _env['PATH'] = _old_path",
            f"        for _name in {tuple(act.unset)!r}:",
            "            if _name in _env:",
            "                del _env[_name]",
            "        _env.update(_hidden)",
            "        if _old_field is None:",
            "            _fields.pop('env_name', None)",
            "        else:",
            "            _fields['env_name'] = _old_field",
            f"        for _name in {tuple(act.set)!r}:",
            "            if _name in _env:",
            "                del _env[_name]",
            "        aliases.pop('deactivate', None)",
            "    aliases['deactivate'] = deactivate",
            "_envman_activate()",
            "del _envman_activate",
        ]
        return "\n".join(lines) + "\n"

    def deactivate(self, environ: Mapping[str, str]) -> str:
        lines = ["def _envman_deactivate():", "    import os", *_leave(list(ACTIVATION_VARIABLES)),
                 "_envman_deactivate()", "del _envman_deactivate"]
        return "\n".join(lines) + "\n"


SHELL = Xonsh
