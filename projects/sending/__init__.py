"""What projects send (MSG-1): a project's bot (`bots`), every message and its outcome
(`messages`), and broadcasts (`broadcasts`), all through the channel port (`projects.channels`)."""
