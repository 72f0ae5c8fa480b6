"""Small dearpygui helpers the editor's window modules share."""

from __future__ import annotations

import dearpygui.dearpygui as dpg


def item_alias(item: int | str) -> str:
    """An item's tag as text: its alias, or "" for an item without one (or already gone)."""
    if isinstance(item, str):
        return item
    try:
        return dpg.get_item_alias(item) or ""
    except SystemError:
        return ""
