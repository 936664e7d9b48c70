"""pmdesk: desktop administration of two-step authentication for a workshop database."""

__version__ = "0.1.0"
APP_NAME = "pmdesk"
