"""FastAGI servers for the benchmark, each run in its own process so its CPU time can be read alone.

python -m bench.agi_servers project PORT DATABASE_URL   the hotline's server and flow
python -m bench.agi_servers floor PORT COMMANDS         a bare panoramisk Application, echo route
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def project(port: int, database_url: str) -> None:
    from agi_scripts.ivr_app import build_server
    from hotline import settings
    from hotline.db.migrate import upgrade_async
    from shell.service import freeze_startup_objects

    site = settings.load("tests/hotline.test.toml", overrides={"database.url": database_url})
    await upgrade_async(database_url)
    server = build_server(site)
    await server.start("127.0.0.1", port)
    freeze_startup_objects()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def floor(port: int, commands: list[str]) -> None:
    """The least any asyncio FastAGI server can do for a call: read the environment, then send the same
    commands as the hotline does (so Asterisk's answers take as long) and read their results."""
    from panoramisk.fast_agi import Application

    app = Application(loop=asyncio.get_running_loop())

    async def echo(request):  # type: ignore[no-untyped-def]
        for command in commands:
            await request.send_command(command)

    app.add_route("ivr", echo)
    await asyncio.start_server(app.handler, "127.0.0.1", port)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, port, arg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "project":
        asyncio.run(project(port, arg))
    else:
        asyncio.run(floor(port, Path(arg).read_text(encoding="utf-8").splitlines()))
