"""A tab's content, built the first time the tab is shown, in a scroll area of its own."""

from __future__ import annotations

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from pmdesk.ui.page_context import PageContext, PageFactory
from pmdesk.ui.scrolling import follow_focus


class LazyPage(QWidget):
    """A tab's content, built by its factory the first time the tab is shown.

    The content sits in a scroll area: when the window is smaller than the page's minimum size,
    the page scrolls rather than being cut off, and never makes the window wider."""

    def __init__(self, key: str, factory: PageFactory, context: PageContext) -> None:
        super().__init__()
        self.setObjectName(f"page_{key}")
        self.key = key
        self._factory: PageFactory | None = factory
        self._context = context
        self.content: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setObjectName(f"pageScroll_{key}")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self._layout.addWidget(self.scroll_area)

    def build(self) -> QWidget:
        if self.content is None:
            assert self._factory is not None
            self.content = self._factory(self._context)
            self._factory = None
            self.scroll_area.setWidget(self.content)
            follow_focus(self.scroll_area)
        return self.content

    def showEvent(self, event: QShowEvent) -> None:
        self.build()
        super().showEvent(event)
