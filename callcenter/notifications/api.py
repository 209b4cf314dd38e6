"""The notifications feature's public module: what the composition root and other features may import."""

from callcenter.notifications.wiring import NOTIFICATIONS, NotificationsFeature, build_notifications

__all__ = ["NOTIFICATIONS", "NotificationsFeature", "build_notifications"]
