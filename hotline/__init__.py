"""hotline1022's core: what every part of an Asterisk IVR and call centre for public citizen hotlines
stands on (settings, errors, secrets, the database, the case as people see it, the Asterisk contract). It
imports nothing else of the project."""

__version__ = "0.1.0"
