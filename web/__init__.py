"""The supervisors' and agents' web app."""
