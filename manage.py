#!/usr/bin/env python
"""Django's command-line utility. Commands run as a named system actor (``cli:<os user>:<command>``)
so anything they change is attributed in the audit trail."""

import getpass
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.dev")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load settings now, to report a bad value in one line
    except ImproperlyConfigured as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)

    from django.core.management import execute_from_command_line

    from audit.context import Actor, ActorKind, acting_as

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    actor = Actor(ActorKind.SYSTEM, f"manage:{command}", f"cli:{getpass.getuser()}:{command}")
    with acting_as(actor):
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
