"""`rasa run`, with the auth token taken from the environment instead of the command line.

The command line of every process is readable by every user of the machine (`ps`,
/proc/<pid>/cmdline); the environment only by the same user. Run as
`python -m rasa_addons.serve run --enable-api ...` with RASA_TOKEN set: this adds
`--auth-token` to the arguments Rasa's own command line parses, in this process only
(sys.argv is Python's copy; the kernel's record of the command line is unchanged), and
calls Rasa's own entry point, so everything else `rasa run` does stays as it is, but for
two measured wastes removed first (rasa_addons/action_validation.py,
rasa_addons/action_session.py).
"""

from __future__ import annotations

import os
import sys

TOKEN_ENV = "RASA_TOKEN"


def rasa_argv(args: list[str], token: str) -> list[str]:
    if any(a in ("-t", "--auth-token") or a.startswith("--auth-token=") for a in args):
        raise SystemExit(f"pass the token in {TOKEN_ENV}, not on the command line")
    # One argument with "=": a token that starts with "-" is not read as an option.
    return ["rasa", *args, f"--auth-token={token}"]


def main() -> None:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SystemExit(f"{TOKEN_ENV} is not set: the Rasa server will not run without it")
    sys.argv = rasa_argv(sys.argv[1:], token)
    from rasa.__main__ import main as rasa_main

    from rasa_addons import action_session, action_validation

    action_validation.install()
    action_session.install()

    rasa_main()


if __name__ == "__main__":
    main()
