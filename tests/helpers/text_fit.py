"""Does every text a window shows fit its widget? (issue 15, point 5: the layout holds in every
language, at 100% and at 200%.)

``text_problems(window)`` walks the visible widgets of a shown window and returns one readable
line for each text that is clipped or elided, for example::

    Security › Trust period › QLabel 'Vertrouwensperiode…' needs 212 px, has 180 px

What is measured, each the way Qt lays the text out:

- a QLabel without word wrap: its widest line against its contents rectangle (less margin and
  indent), and its lines' height; rich text through a QTextDocument's ideal width;
- a word-wrapped QLabel: the height its text needs at its width (``heightForWidth``), and its
  widest line as Qt breaks it (a word that cannot be broken is cut: Dutch compounds);
- a button, check box or radio button: its size hint (indicator, spacing and text) against its
  size; a tool button showing only its icon is not measured;
- a QGroupBox: its title (and check box) against its width;
- a QTabBar: each tab's text and icon inside its tab, and every tab inside the bar (no scroll
  buttons hiding one);
- a QHeaderView of a visible table: each visible section's text inside the rectangle the
  style paints it in (``SE_HeaderLabel``: less padding, and the sort indicator where shown);
- a QComboBox: its current text inside the edit field (left of the arrow);
- a QScrollArea (a page, a form): no sideways scrolling, which hides the right of its texts.

Not measured: a line edit's placeholder (already shortened on purpose in places, such as the
Personnel list's search box), and the cells of a table (they elide by design).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextDocument, QTextLayout, QTextOption
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QRadioButton,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QStyleOptionHeader,
    QTabBar,
    QTabWidget,
    QToolButton,
    QWidget,
)

#: Rounding: Qt's text widths are fractional; a pixel short is not a clipped glyph.
SLACK = 1


def text_problems(window: QWidget) -> list[str]:
    """One line per text of ``window`` (and its visible descendants) that does not fit."""
    problems: list[str] = []
    for widget in [window, *window.findChildren(QWidget)]:
        if widget is not window and not widget.isVisibleTo(window):
            continue
        for problem in _problems_of(widget):
            problems.append(f"{where(widget, window)} › {problem}")
    return problems


def _problems_of(widget: QWidget) -> list[str]:
    for kind, measure in _MEASURES:
        if isinstance(widget, kind):
            return measure(widget)
    return []


# ----- where: the window, group boxes and tabs around a widget ---------------------------------


def where(widget: QWidget, window: QWidget) -> str:
    """``Window title › Tab › Group box`` of ``widget`` inside ``window``."""
    names: list[str] = []
    child, parent = widget, widget.parentWidget()
    while parent is not None and child is not window:
        if isinstance(parent, QGroupBox) and parent.title():
            names.append(_plain(parent.title()))
        if isinstance(parent, QTabWidget):
            index = parent.indexOf(child)
            if index >= 0:
                names.append(_plain(parent.tabText(index)))
        if parent is window:
            break
        child, parent = parent, parent.parentWidget()
    names.append(window.windowTitle() or window.objectName() or type(window).__name__)
    return " › ".join(reversed(names))


def _name(widget: QWidget, text: str) -> str:
    shown = text if len(text) <= 40 else text[:39] + "…"
    return f"{type(widget).__name__} {shown!r}"


def _too_small(widget: QWidget, text: str, need: int, have: int, what: str = "px") -> list[str]:
    if need <= have + SLACK:
        return []
    return [f"{_name(widget, _plain(text))} needs {need} {what}, has {have} {what}"]


def _plain(text: str) -> str:
    """A text as shown: ``&&`` is an ampersand, a single ``&`` marks the accelerator."""
    return re.sub(r"&(.)", r"\1", text)


# ----- labels -----------------------------------------------------------------------------------


def _label(label: QLabel) -> list[str]:
    text = label.text()
    if not text:
        return []
    if label.buddy() is not None:
        text = _plain(text)
    room = label.contentsRect()
    margin = label.margin()
    width, height = room.width() - 2 * margin, room.height() - 2 * margin
    metrics = label.fontMetrics()
    indent = label.indent()
    if indent < 0:
        indent = metrics.horizontalAdvance("x") // 2 if label.frameWidth() > 0 else 0
    if indent > 0 and label.alignment() & (
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignRight
    ):
        width -= indent
    if _is_rich(label):
        return _rich_label(label, text, width, height)
    if label.wordWrap():
        problems = _too_small(label, text, label.heightForWidth(label.width()), label.height())
        return problems + _too_small(label, text, _widest_wrapped_line(label, text, width), width)
    lines = text.split("\n")
    need = max(metrics.horizontalAdvance(line) for line in lines)
    tall = metrics.height() + (len(lines) - 1) * metrics.lineSpacing()
    return _too_small(label, text, need, width) + _too_small(label, text, tall, height, "px high")


def _widest_wrapped_line(label: QLabel, text: str, width: int) -> int:
    """The widest line of ``text`` word-wrapped at ``width`` as Qt breaks it (after a space, a
    slash, a zero-width space …): wider than ``width`` when a word cannot be broken."""
    layout = QTextLayout(text, label.font())
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WordWrap)
    layout.setTextOption(option)
    widest = 0.0
    layout.beginLayout()
    while (line := layout.createLine()).isValid():
        line.setLineWidth(width)
        widest = max(widest, line.naturalTextWidth())
    layout.endLayout()
    return round(widest)


def _is_rich(label: QLabel) -> bool:
    form = label.textFormat()
    if form == Qt.TextFormat.RichText:
        return True
    return form == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(label.text())


def _rich_label(label: QLabel, text: str, width: int, height: int) -> list[str]:
    document = QTextDocument()
    document.setDefaultFont(label.font())
    document.setDocumentMargin(0)
    document.setHtml(text)
    shown = document.toPlainText()
    if label.wordWrap():
        document.setTextWidth(width)
        return _too_small(label, shown, round(document.size().height()), height)
    return _too_small(label, shown, round(document.idealWidth()), width)


# ----- buttons, group boxes, combo boxes ----------------------------------------------------------


def _button(button: QAbstractButton) -> list[str]:
    text = button.text()
    if not text:
        return []
    if (
        isinstance(button, QToolButton)
        and button.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
    ):
        return []
    hint = button.sizeHint()
    problems = _too_small(button, text, hint.width(), button.width())
    if isinstance(button, QCheckBox | QRadioButton):
        # Beside its indicator: the text's own lines, not the style's minimum height.
        tall = button.fontMetrics().height()
        return problems + _too_small(button, text, tall, button.height(), "px high")
    return problems


def _group_box(box: QGroupBox) -> list[str]:
    title = box.title()
    if not title:
        return []
    metrics = box.fontMetrics()
    need = metrics.horizontalAdvance(_plain(title)) + 6  # Qt's own room beside the title
    if box.isCheckable():
        style = box.style()
        need += style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth, None, box)
        need += style.pixelMetric(QStyle.PixelMetric.PM_CheckBoxLabelSpacing, None, box)
    return _too_small(box, title, need, box.width())


def _combo(combo: QComboBox) -> list[str]:
    text = combo.currentText()
    if not text:
        return []
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, combo
    )
    need = combo.fontMetrics().horizontalAdvance(text)
    if not combo.itemIcon(combo.currentIndex()).isNull():
        need += combo.iconSize().width() + 4
    return _too_small(combo, text, need, field.width())


def _scroll_area(area: QScrollArea) -> list[str]:
    """A page or form wider than its view hides the right of its labels and buttons: it scrolls
    sideways, or, with the sideways scroll bar off, it is cut (tables may scroll sideways: they
    are item views, not scroll areas)."""
    content = area.widget()
    if content is None or content.width() <= area.viewport().width():
        return []
    need = max(content.width(), content.minimumSizeHint().width())
    name = area.objectName() or type(content).__name__
    how = "scrolls sideways" if area.horizontalScrollBar().isVisible() else "is cut on the right"
    return [f"{name} {how}: needs {need} px, has {area.viewport().width()} px"]


# ----- tabs and table headers -------------------------------------------------------------------


def _tab_bar(bar: QTabBar) -> list[str]:
    problems: list[str] = []
    metrics = bar.fontMetrics()
    for index in range(bar.count()):
        if not bar.isTabVisible(index):
            continue
        text = _plain(bar.tabText(index))
        rect = bar.tabRect(index)
        need = metrics.horizontalAdvance(text)
        if not bar.tabIcon(index).isNull():
            need += bar.iconSize().width() + 4
        problems += _too_small(bar, text, need, rect.width())
        if not bar.rect().contains(rect):
            problems.append(f"{_name(bar, text)} lies outside its tab bar (scrolled away)")
    return problems


def _header(header: QHeaderView) -> list[str]:
    model = header.model()
    if model is None:
        return []
    problems: list[str] = []
    for section in range(header.count()):
        if header.isSectionHidden(section) or header.sectionSize(section) <= 0:
            continue
        text = model.headerData(section, header.orientation(), Qt.ItemDataRole.DisplayRole)
        if not text:
            continue
        need, have = _section_room(header, section, str(text))
        problems += _too_small(header, str(text), need, have)
    return problems


def _section_room(header: QHeaderView, section: int, text: str) -> tuple[int, int]:
    """The width ``text`` needs in ``section``, and the width of the rectangle the style paints
    the label in (``SE_HeaderLabel``: inside padding, beside the sort indicator where shown)."""
    option = QStyleOptionHeader()
    option.initFrom(header)
    option.section = section
    option.text = text
    horizontal = header.orientation() == Qt.Orientation.Horizontal
    size = header.sectionSize(section)
    option.rect = (
        QRect(0, 0, size, header.height()) if horizontal else QRect(0, 0, header.width(), size)
    )
    font = header.model().headerData(section, header.orientation(), Qt.ItemDataRole.FontRole)
    metrics = QFontMetrics(font) if isinstance(font, QFont) else header.fontMetrics()
    option.fontMetrics = metrics
    if header.isSortIndicatorShown() and header.sortIndicatorSection() == section:
        option.sortIndicator = QStyleOptionHeader.SortIndicator.SortDown
    room = header.style().subElementRect(QStyle.SubElement.SE_HeaderLabel, option, header)
    lines = text.split("\n")
    if horizontal:
        return max(metrics.horizontalAdvance(line) for line in lines), room.width()
    return metrics.height() + (len(lines) - 1) * metrics.lineSpacing(), room.height()


#: Each kind of widget and how its text is measured (the first that matches).
_MEASURES: tuple[tuple[type[Any], Callable[[Any], list[str]]], ...] = (
    (QLabel, _label),
    (QAbstractButton, _button),
    (QGroupBox, _group_box),
    (QTabBar, _tab_bar),
    (QHeaderView, _header),
    (QComboBox, _combo),
    (QScrollArea, _scroll_area),
)
