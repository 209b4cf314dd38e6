"""Citizens kept informed: an outbox of e-mail and SMS notifications, signed answer links,
unsubscribe, and the no-answer rule (docs/notifications.md)."""
