"""The web app (aiohttp), in three parts by who uses them: `staff` (the agents' desk, the supervisors'
wallboard, cases, requests, worklist, switches, reports), `citizens` (the web form and the follow page,
without signing in) and `integrations` (Open311, the chat webhooks, the SMS gateway, metrics, OpenAPI).
They stand on the frame in this folder (context, sign-in, errors, routes, words, the live push) and know
nothing of each other; `app.py` puts them together."""
