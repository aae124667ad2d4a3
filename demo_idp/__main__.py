"""`python -m demo_idp <command>`: Django's management commands for the demo provider."""

import os
import sys


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_idp.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(["python -m demo_idp", *sys.argv[1:]])


if __name__ == "__main__":
    main()
