"""What the center's staff work in: the agents' desk, the supervisors' wallboard, cases and recordings,
citizens' requests (pages and JSON API), the worklist, the switches, and the reports."""
