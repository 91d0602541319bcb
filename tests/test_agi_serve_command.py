"""`hotline agi serve` as its own process: it keeps answering calls while broken clients come and go."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.agi_peer import KeyScript, environment, free_port, run_session, variables
from tests.services import start_hotline


async def test_agi_serve_survives_clients_that_leave_inside_their_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {"HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/hotline.db", "PATH": "/usr/bin:/bin"}
    proc = await start_hotline(
        "agi", "serve", "--listen", f"127.0.0.1:{port}", ready=b"FastAGI server on", env=env
    )
    try:
        for _ in range(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"agi_network: yes\nagi_network_script: ivr\nagi_chan")
            await writer.drain()
            writer.close()
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    run_session("127.0.0.1", port, environment(linkedid=f"s.{i}"), KeyScript(["0"]))
                    for i in range(3)
                )
            ),
            timeout=10,
        )
        assert [variables(r.commands)["HOTLINE_DEST"] for r in results] == ["queue-operator"] * 3
        assert proc.returncode is None
    finally:
        proc.terminate()
        await proc.wait()
