"""The errors a user can cause and fix: tools print them as one line, exit 2.

`segwgan.cli.run` prints these, and the few other stops a user can act on
(`cli.USER_ERRORS`: a diverged training, the OS refusing a file), as one
line; every other exception is a bug and keeps its traceback. Each type is
also a `ValueError`, so library code that checks a value may catch it as
one.
"""


class UserError(ValueError):
  """A bad input, named in the message (a flag, a file, a setting)."""


class FlagError(UserError):
  """A flag value, or a combination of flags, that cannot work."""


class ModelError(UserError):
  """A checkpoint or export that is missing, unreadable or does not fit."""


class DownloadError(UserError):
  """A file that could not be downloaded (no network, a wrong URL)."""
