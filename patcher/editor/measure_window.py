"""The Measure window: Analyze > Measure's verdict, figures and plots, Capture IR and A/B.

Every button ends in one call on the model's :class:`~patcher.editor.measure.Measuring`; the
window only shows what it holds, once a frame (:meth:`MeasureWindow.sync`). The plots are drawn
as the node pictures are (:meth:`EditorView._draw_plot`), at the UI scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dearpygui.dearpygui as dpg

from patcher.editor.measure import Chain, chain_for_selection, measurement_plots, verdict_sentence

if TYPE_CHECKING:
    from patcher.editor.view import EditorView

#: One plot's size at UI scale 1; the window holds two by two.
PLOT_SIZE = (400, 190)
PLOT_COUNT = 4
LISTEN_CHOICES = ("chain", "capture", "difference")
VERDICT_COLORS = {True: (130, 230, 140), False: (255, 170, 90)}


class MeasureWindow:
    def __init__(self, view: EditorView) -> None:
        self.view = view
        self.model = view.model
        self._shown_result: Any = None  # the measurement (and scale) the window last drew
        self._shown_switch: Any = None

    @property
    def measuring(self) -> Any:
        return self.model.measuring

    def build(self) -> None:
        scale = self.view.camera.ui_scale
        width = round((2 * PLOT_SIZE[0] + 40) * scale)
        with dpg.window(
            tag="measure_window", label="Measure", show=False, width=width, height=round(720 * scale)
        ):
            with dpg.group(horizontal=True):
                dpg.add_text("From")
                self.view._typing_widgets.add(
                    dpg.add_input_text(tag="measure_from", hint="the inputs", width=round(170 * scale))
                )
                dpg.add_text("to")
                self.view._typing_widgets.add(
                    dpg.add_input_text(tag="measure_to", hint="the output", width=round(170 * scale))
                )
                dpg.add_button(label="Measure", tag="measure_button", callback=lambda: self.measure_fields())
            with dpg.group(horizontal=True, tag="measure_running", show=False):
                dpg.add_progress_bar(tag="measure_progress", width=round(2 * PLOT_SIZE[0] * scale) - 90)
                dpg.add_button(label="Cancel", tag="measure_cancel", callback=lambda: self.measuring.cancel())
            dpg.add_text(
                "Select a node, a chain of nodes or nothing (the whole patch), then Measure.",
                tag="measure_verdict",
                wrap=width - 30,
            )
            with dpg.group(horizontal=True, tag="measure_capture", show=False):
                dpg.add_button(
                    label="Capture IR", tag="capture_in_place", callback=lambda: self.capture(False)
                )
                dpg.add_button(
                    label="Capture IR beside (A/B)", tag="capture_beside", callback=lambda: self.capture(True)
                )
            with dpg.group(horizontal=True, tag="measure_listen_group", show=False):
                dpg.add_text("Listen to")
                dpg.add_radio_button(
                    LISTEN_CHOICES,
                    tag="measure_listen",
                    horizontal=True,
                    callback=lambda _s, choice, *_a: self.measuring.listen(choice),
                )
            for row in range(PLOT_COUNT // 2):
                with dpg.group(horizontal=True):
                    for column in range(2):
                        dpg.add_drawlist(
                            *self._plot_size(), tag=f"measure_plot:{2 * row + column}", show=False
                        )
            with dpg.collapsing_header(label="Figures (as patcher analyze prints them)", default_open=True):
                dpg.add_text("", tag="measure_figures", wrap=width - 30)

    def _fit_to_scale(self) -> None:
        """The window, its fields and its text wrapped at the UI scale (View > UI Scale)."""
        scale = self.view.camera.ui_scale
        width = round((2 * PLOT_SIZE[0] + 40) * scale)
        dpg.configure_item("measure_window", width=width)
        for tag in ("measure_from", "measure_to"):
            dpg.configure_item(tag, width=round(170 * scale))
        for tag in ("measure_verdict", "measure_figures"):
            dpg.configure_item(tag, wrap=width - 30)

    def _plot_size(self) -> tuple[int, int]:
        scale = self.view.camera.ui_scale
        return round(PLOT_SIZE[0] * scale), round(PLOT_SIZE[1] * scale)

    # -- what the user does ------------------------------------------------------------------
    def open(self) -> None:
        """Analyze > Measure: the selection's chain in the fields, measured at once."""
        chain = chain_for_selection(self.model.patch, self.model.selected_nodes)
        dpg.set_value("measure_from", chain.from_port or "")
        dpg.set_value("measure_to", chain.to_port or "")
        self.show()
        self.measuring.start(chain)

    def show(self) -> None:
        if not dpg.is_item_shown("measure_window"):
            scale = self.view.camera.ui_scale
            x = max(0, self.view.width - round((2 * PLOT_SIZE[0] + 60) * scale))
            dpg.configure_item("measure_window", show=True, pos=[x, round(40 * scale)])
        dpg.focus_item("measure_window")

    def measure_fields(self) -> None:
        """The Measure button: the chain typed in the fields (empty: the analysis's default)."""
        chain = Chain(
            dpg.get_value("measure_from").strip() or None, dpg.get_value("measure_to").strip() or None
        )
        self.measuring.start(chain)

    def capture(self, beside: bool) -> None:
        self.measuring.capture(beside)

    # -- once a frame -------------------------------------------------------------------------
    def sync(self) -> None:
        if not dpg.does_item_exist("measure_window") or not dpg.is_item_shown("measure_window"):
            return
        job = self.measuring.job
        dpg.configure_item("measure_running", show=job is not None)
        if job is not None:
            dpg.set_value("measure_progress", job.progress)
            dpg.configure_item("measure_progress", overlay=f"{job.step}  {job.progress:.0%}")
        self._show_result()
        self._show_listen()

    def _show_result(self) -> None:
        result, job = self.measuring.result, self.measuring.job
        key = (id(result), self.view.camera.ui_scale, self.measuring.stale, job)
        if key == self._shown_result:
            return
        if self._shown_result is None or self._shown_result[1] != key[1]:
            self._fit_to_scale()
        self._shown_result = key
        dpg.configure_item("measure_capture", show=result is not None and not self.measuring.stale)
        if job is not None:
            dpg.set_value("measure_verdict", f"Measuring {job.chain.label()}...")
            dpg.configure_item("measure_verdict", color=(200, 200, 200))
        if result is None or job is not None:
            return
        from patcher.analysis_report import summary_text

        analysis = result.analysis
        verdict = verdict_sentence(analysis)
        if self.measuring.stale:
            verdict += "  (The patch has changed since: measure again.)"
        dpg.set_value("measure_verdict", verdict)
        dpg.configure_item("measure_verdict", color=VERDICT_COLORS[not analysis.failed])
        dpg.set_value("measure_figures", summary_text(analysis))
        scale = self.view.camera.ui_scale
        for index, plot in enumerate(measurement_plots(analysis)):
            tag = f"measure_plot:{index}"
            dpg.configure_item(tag, show=True)
            self.view._draw_plot(tag, plot, *PLOT_SIZE, scale)

    def _show_listen(self) -> None:
        listening = self.measuring.listening
        if listening == self._shown_switch:
            return
        self._shown_switch = listening
        dpg.configure_item("measure_listen_group", show=listening is not None)
        if listening is not None:
            dpg.set_value("measure_listen", listening)

    def shown_text(self) -> dict[str, str]:
        """What the window says (for tests and for screen readers of the future)."""
        return {tag: dpg.get_value(tag) for tag in ("measure_verdict", "measure_figures")}
