"""The Qt-free core: every rule of pmdesk lives here."""
