"""The errors a user can cause and fix: tools print them as one line, exit 2.

Every other exception is a bug (or an environment failure) and keeps its
traceback (`segwgan.cli.run`). Each type is also a `ValueError`, so library
code that checks a value may catch it as one.
"""


class UserError(ValueError):
  """A bad input, named in the message (a flag, a file, a setting)."""


class FlagError(UserError):
  """A flag value, or a combination of flags, that cannot work."""


class ModelError(UserError):
  """A checkpoint or export that is missing, unreadable or does not fit."""


class DownloadError(UserError):
  """A file that could not be downloaded (no network, a wrong URL)."""
