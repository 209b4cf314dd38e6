"""``callcenter open311-key add NAME | list | revoke NAME``: API keys of partner applications.

``add`` prints the key once; only its SHA-256 is stored, so a lost key is revoked and a new
one issued. ``callcenter.open311.feature.FEATURE`` lists the command.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callcenter.config import Settings
from callcenter.open311.api_keys import open311_keys
from callcenter.store.db import create_engine, session_factory


class Open311KeyCommand:
    """The ``open311-key`` command (its name, ``register`` and ``run`` make a feature Command)."""

    name = "open311-key"

    def register(self, sub: Any) -> None:
        parser = sub.add_parser(self.name, help="API keys for Open311 GeoReport v2 partner applications")
        actions = parser.add_subparsers(dest="open311_key_command", required=True)
        add = actions.add_parser("add", help="issue a key for an application and print it (shown only once)")
        add.add_argument("key_name", metavar="NAME", help="the application, e.g. 'Городской помощник'")
        actions.add_parser("list", help="issued keys (names, prefixes, last use)")
        revoke = actions.add_parser("revoke", help="revoke an application's key")
        revoke.add_argument("key_name", metavar="NAME")

    async def run(self, args: argparse.Namespace, settings: Settings) -> int:
        engine = create_engine(settings.database_url)
        keys = open311_keys(session_factory(engine))
        try:
            if args.open311_key_command == "add":
                view, key = await keys.add(args.key_name)
                print(key)
                print(f"key for «{view.owner}» issued; store it now: it cannot be shown again", file=sys.stderr)
            elif args.open311_key_command == "list":
                for k in await keys.all():
                    state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                    used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
                    print(f"{k.owner:30} {k.key_prefix}…  {state:18} last used: {used}")
            else:
                view = await keys.revoke_owner(args.key_name)
                print(f"key for «{view.owner}» revoked")
            return 0
        finally:
            await engine.dispose()
