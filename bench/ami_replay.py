"""AMI replay benchmark.

  python -m bench.ami_replay record OUT.gz   record the AMI events of calls on the sandbox (as root)
  python -m bench.ami_replay serve PORT FILE COPIES DIR   a fake Asterisk that replays the recording

The recording (bench/fixtures/ami-stream.gz) holds the events of simulated calls of several outcomes
through the IVR and the queues. The server answers the login and the bridge's resynchronisation, then
sends the recording COPIES times as fast as TCP takes it, each copy with its own linkedids, and ends with
a UserEvent BenchEnd. The clients measure from the first event to the last case written.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import sys
from pathlib import Path

EOM = b"\r\n\r\n"
FIXTURE = Path(__file__).with_name("fixtures") / "ami-stream.gz"


def load_messages(path: Path = FIXTURE) -> list[bytes]:
    raw = gzip.decompress(path.read_bytes())
    return [m + EOM for m in raw.split(EOM) if m.strip()]


def copies(messages: list[bytes], count: int, recordings: Path) -> bytes:
    """The recording `count` times, each copy with its own call ids and without the IVR's case numbers
    (the bridge then numbers each copy's cases itself, as it does for calls that skip the IVR), its
    recordings under `recordings`."""
    kept = [m for m in messages if b"Variable: HOTLINE_CASE_NO" not in m and b"ActionID:" not in m]
    body = b"".join(kept).replace(b"{RECORDINGS}", str(recordings).encode())
    return b"".join(body.replace(b"sim-", f"r{i}-".encode()) for i in range(count))


def recording_paths(stream: bytes) -> set[str]:
    """Where the replayed calls' recordings would be (the benchmark puts a short WAV file at each)."""
    return {m.decode() for m in re.findall(rb"Variable: __HOTLINE_REC\r\nValue: (\S+)", stream)}


async def serve(port: int, path: Path, count: int, recordings: Path) -> None:
    stream = copies(load_messages(path), count, recordings)
    events = stream.count(b"Event: ")

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        sent = False
        while True:
            try:
                raw = await reader.readuntil(EOM)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            action = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
            aid = action.get("ActionID", "")
            name = action.get("Action", "").lower()
            if name in ("coreshowchannels", "queuestatus"):
                writer.write(f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n".encode())
                writer.write(f"Event: Done\r\nActionID: {aid}\r\nEventList: Complete\r\n\r\n".encode())
            else:
                writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n".encode())
            # The bridge resynchronises first (its last question is QueueStatus); the floor only logs in.
            ready = name == "queuestatus" or (name == "login" and action.get("Username") == "floor")
            if ready and not sent:
                sent = True
                writer.write(stream + b"Event: UserEvent\r\nUserEvent: BenchEnd\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    # Only once it listens: a client that connects on this word must find it (panoramisk does not retry).
    print(f"ready {events}", flush=True)
    async with server:
        await server.serve_forever()


async def record(out: Path) -> None:
    """Place calls of several outcomes on the test sandbox and keep every AMI event they cause."""
    from agi_scripts.ivr_app import build_server
    from hotline import secrets
    from hotline import settings as site_settings
    from hotline.db.migrate import upgrade_async
    from shell.callsim import CallRequest, connect_ami, place_call
    from shell.sandbox.runner import Sandbox

    # The trial site's sandbox (the tests' may be busy), open all day so callers reach the queues.
    site = site_settings.load("hotline.example.toml", overrides={"hours.always_open": True})
    Sandbox(site).up()
    await upgrade_async(site.database_url)
    agi = build_server(site)
    await agi.start(site.agi.host, site.agi.port)
    reader, writer = await asyncio.open_connection(site.ami.host, site.ami.port)
    await reader.readline()
    writer.write(
        f"Action: Login\r\nUsername: {site.ami.username}\r\nSecret: {secrets.ami_secret(site)}\r\n\r\n".encode()
    )
    captured = bytearray()

    async def capture() -> None:
        while chunk := await reader.read(65536):
            captured.extend(chunk)

    task = asyncio.create_task(capture())
    ami = await connect_ami(site)
    plans = [("0", 6), ("2", 4), ("", 3), ("4", 4), ("0", 10), ("3", 5), ("1", 3), ("0", 4)] * 3
    calls = []
    for keys, hangup in plans:
        calls.append(
            asyncio.create_task(
                place_call(site, CallRequest("1022", keys=keys, hangup_after=hangup), ami=ami)
            )
        )
        await asyncio.sleep(1.0)
    await asyncio.gather(*calls)
    await asyncio.sleep(2)
    task.cancel()
    writer.close()
    await ami.close()
    await agi.close()
    # Keep only the calls' events (drop the login reply and unrelated system events).
    text = bytes(captured).split(EOM)
    kept = [
        m.replace(str(site.recordings_path).encode(), b"{RECORDINGS}") + EOM
        for m in text
        if b"Linkedid: sim-" in m
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(b"".join(kept)))
    print(f"recorded {len(kept)} events of {len(plans)} calls into {out}")


if __name__ == "__main__":
    if sys.argv[1] == "record":
        asyncio.run(record(Path(sys.argv[2])))
    else:
        asyncio.run(serve(int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])))
