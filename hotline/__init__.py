"""hotline1022: an Asterisk IVR and call centre for public citizen hotlines."""

__version__ = "0.1.0"
