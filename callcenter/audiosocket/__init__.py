"""AudioSocket: the caller's audio streamed from Asterisk to the application (recording, live transcript)."""
