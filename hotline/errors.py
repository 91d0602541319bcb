"""Errors a user can act on: each message says what is wrong and how to fix it."""


class HotlineError(Exception):
    """Base for errors shown to the user without a traceback."""


class SettingsError(HotlineError):
    """A setting is missing or wrong; the message names the key."""


class SandboxError(HotlineError):
    """The sandbox Asterisk cannot be built, started or stopped."""


class AMIError(HotlineError):
    """The AMI connection failed or an action was refused."""


class AMIActionRefused(AMIError):
    """Asterisk answered an action with Error: its reason is the message."""


class AMILoginRefused(AMIError):
    """Asterisk refused the login: a wrong secret or permit does not heal by retrying."""
