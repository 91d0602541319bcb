"""Casework: what happens to a citizen's request after the call or message that opened it. It is forwarded
to the agency responsible, accepted or returned, answered, approved and closed, with deadlines counted on
the offices' working calendar. It stands on the core; the web app (and later the channels) use it."""
