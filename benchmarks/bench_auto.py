"""What does one directory change cost with `envman init --auto` and 1,000 environments?

Builds a throw-away data root with 1,000 registered environments, each with its own
project directory (bench_ls.populate), then times, in the same run and alternating:

  python -I -S -c pass          the interpreter floor the fast path starts from
  bare typer command            the CLI framework's own start-up (the reference)
  cd into a project             the fast path as the hook runs it on entering a project:
                                index read, activation code rendered, use stamp touched
  cd within the project         the same project's subdirectory: nothing to do
  cd out of every project       leaving: the deactivation code
  cd outside, nothing active    a change between directories of no project
  bash: init only               bash start-up plus evaluating `envman init bash --auto`
                                (the floor of the next line)
  bash: one cd into a project   the same plus `cd` and the hook, as PROMPT_COMMAND runs it
  bash: 1,000 prompts, no cd    the hook 1,000 times in one directory: the string comparison

Usage: python benchmarks/bench_auto.py [--envs 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ls import BARE_TYPER, REPO, compiled, populate, timed  # noqa: E402

from envman.shell import init as shellinit  # noqa: E402
from envman.shell.completion_scripts import setup_lines  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    compiled()
    bash = shutil.which("bash")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data root"
        store = populate(root, args.envs)
        middle = f"project-{args.envs // 2:04d}"
        project = root / "projects" / middle
        (project / "src" / "pkg").mkdir(parents=True)
        env_path = str(store.env_path(middle))
        outside = Path(tmp)
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_TYPER)
        env = dict(os.environ, ENVMAN_HOME=str(root), ENVMAN_CONFIG=str(Path(tmp) / "none.toml"),
                   PYTHONPATH=str(REPO))
        env.pop("VIRTUAL_ENV", None)
        active = dict(env, VIRTUAL_ENV=env_path)
        python, parent, root_default, cache_default = setup_lines()

        def hook(auto: str) -> List[str]:
            return [python, "-I", "-S", "-c", shellinit.AUTO_RUN, parent, "1", "bash",
                    root_default, cache_default, auto]

        entering = subprocess.run(hook(""), env=env, cwd=project, capture_output=True, text=True,
                                  check=True).stdout
        assert "_ENVMAN_AUTO=" in entering and env_path in entering, "the fast path did not activate"

        Case = Tuple[List[str], Dict[str, str], Path]
        cases: Dict[str, Case] = {
            "python -I -S -c pass": ([sys.executable, "-I", "-S", "-c", "pass"], env, outside),
            "bare typer command": ([sys.executable, str(bare), "ls"], env, outside),
            "cd into a project": (hook(""), env, project),
            "cd within the project": (hook(env_path), active, project / "src" / "pkg"),
            "cd out of every project": (hook(env_path), active, outside),
            "cd outside, nothing active": (hook(""), env, outside),
        }
        if bash:
            init = Path(tmp) / "init.bash"
            init.write_text(shellinit.rc_code("bash", auto=True))
            source = f"source {shell_quote(str(init))}"
            cases["bash: init only"] = ([bash, "--norc", "--noprofile", "-c", source], env, outside)
            cases["bash: one cd into a project"] = (
                [bash, "--norc", "--noprofile", "-c",
                 f"{source}; _envman_auto_pwd=$PWD; cd {shell_quote(str(project))}; _envman_auto; "
                 f'[ "$VIRTUAL_ENV" = {shell_quote(env_path)} ]'], env, outside)
            cases["bash: 1,000 prompts, no cd"] = (
                [bash, "--norc", "--noprofile", "-c",
                 f"{source}; _envman_auto_pwd=$PWD; for i in {{1..1000}}; do _envman_auto; done"],
                env, project)

        samples: Dict[str, List[float]] = {k: [] for k in cases}
        for cmd, case_env, cwd in cases.values():  # warm the page cache once
            timed(cmd, case_env, cwd=cwd)
        for _ in range(args.runs):
            for label, (cmd, case_env, cwd) in cases.items():
                samples[label].append(timed(cmd, case_env, cwd=cwd))
        reference = statistics.median(samples["bare typer command"])
        floor = statistics.median(samples["python -I -S -c pass"])
        print(f"{args.envs} environments, {args.runs} runs each, median wall time "
              f"(Python {sys.version.split()[0]})")
        print(f"{'case':<32}{'ms':>8}{'x bare typer':>14}{'x python -I -S':>16}")
        for label, values in samples.items():
            median = statistics.median(values)
            print(f"{label:<32}{median * 1000:>8.1f}{median / reference:>14.2f}"
                  f"{median / floor:>16.2f}")
        if bash:
            only = statistics.median(samples["bash: init only"])
            one_cd = statistics.median(samples["bash: one cd into a project"]) - only
            per_prompt = (statistics.median(samples["bash: 1,000 prompts, no cd"]) - only) / 1000
            print(f"one cd into a project through bash's hook: {one_cd * 1000:.1f} ms; "
                  f"a prompt without a cd: {max(per_prompt, 0) * 1e6:.1f} µs")


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    main()
