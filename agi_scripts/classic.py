"""The classic, process-per-call AGI script (pyst2): `AGI(hotline-agi,<DID>,<linkedid>)`.

Runs the same flow as the FastAGI server, for sites that cannot keep a server process running. It costs a
Python start per call (about 0.1 s and 25 MB), so FastAGI is the default.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from asterisk import agi as pyst
from asterisk.agi import AGI

from agi_scripts.agi_channel import AGIChannel, call_info
from agi_scripts.case_desk import DatabaseCaseDesk
from agi_scripts.ivr_app import build_engine
from agi_scripts.protocol import AGIAppError, AGIError, AGIHangup, AGIInvalidCommand, AGIResult, AGIUsageError
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.switches import Cached

log = logging.getLogger("hotline.agi.classic")


class PystCommander:
    """AGI commands through pyst2, its exceptions turned into ours (a hangup is AGIHangup)."""

    def __init__(self, agi: AGI) -> None:
        self.agi = agi

    async def command(self, line: str) -> AGIResult:
        try:
            reply = self.agi.execute(line)
        except pyst.AGIHangup as exc:  # before AGIAppError: pyst2 derives hangups from it
            raise AGIHangup(str(exc)) from None
        except pyst.AGIAppError as exc:
            raise AGIAppError(str(exc)) from None
        except pyst.AGIUsageError as exc:
            raise AGIUsageError(str(exc)) from None
        except pyst.AGIInvalidCommand as exc:
            raise AGIInvalidCommand(str(exc)) from None
        except pyst.AGIError as exc:
            raise AGIError(str(exc)) from None
        value, data = reply.get("result", ("", ""))
        return AGIResult(result=value, data=data, line=line)


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="hotline-agi: %(message)s")
    # pyst2 writes every line it reads and sends to stderr, which Asterisk copies into its log.
    with open(os.devnull, "w") as quiet:
        agi = AGI(stdin=sys.stdin, stdout=sys.stdout, stderr=quiet)
        env = {k: str(v) for k, v in agi.env.items()}
        args = [env[f"agi_arg_{i}"] for i in range(1, 10) if f"agi_arg_{i}" in env]

        async def run() -> None:
            site = site_settings.load()
            engine = make_engine(site.database_url)
            try:
                # One call per process: take one number, not a block.
                ivr = build_engine(site, DatabaseCaseDesk(sessions(engine), block_size=1))
                switches = await Cached(sessions(engine)).get()
                await ivr.run(AGIChannel(PystCommander(agi)), call_info(env, args), switches)
            finally:
                await engine.dispose()

        try:
            asyncio.run(run())
        except AGIHangup:
            pass
        except Exception:
            # Asterisk goes on with the dialplan; with no HOTLINE_DEST it queues the caller for an operator.
            log.exception("IVR failed")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
