"""The SIP edge: Kamailio's configuration, rendered from the site settings (docs/high-availability.md)."""
