"""Classroom features: presentation mode, themes, remembered settings, PNG export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.presets import bundled_presets
from loopscope.desktop_app.projector_fit import presentation_font_pt
from tests.desktop_app.conftest import close_window, open_window

PRESETS = bundled_presets().presets


def test_presentation_mode_uses_large_fonts_and_thick_lines(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        normal_pt = window.charts.chart_style.font_pt
        assert normal_pt < 12
        window.controls.presentation.setChecked(True)
        # The fonts follow the screen's lines (projector_fit): 16 pt on 1080 of them, and
        # as tall on the wall on fewer (offscreen's screen is 800 px high: 12 pt).
        presenting_pt = presentation_font_pt(window.screen().geometry().height())
        assert presentation_font_pt(1080) == 16 and presenting_pt >= 12
        style = window.charts.chart_style
        assert style.font_pt == presenting_pt and style.line_width >= 5
        tick_font = window.charts.throughput.getAxis("left").style["tickFont"]
        assert tick_font.pointSize() == presenting_pt
        assert f"font-size: {presenting_pt}pt" in window.styleSheet()
        assert window.isFullScreen()
        # The controls fold away so the charts get the screen; the strip brings them back.
        assert window.controls_scroll.isHidden()
        window.panel_toggle.click()
        assert not window.controls_scroll.isHidden()
        window.panel_toggle.click()
        window.controls.presentation.setChecked(False)
        assert window.charts.chart_style.font_pt == normal_pt
        assert not window.isFullScreen()
        assert not window.controls_scroll.isHidden()
        await close_window(window)

    run_on_qt_loop(body())


def test_theme_lesson_and_window_are_remembered(
    qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path
) -> None:
    settings_file = str(tmp_path / "loopscope.ini")

    async def body() -> None:
        settings = QSettings(settings_file, QSettings.Format.IniFormat)
        window = await open_window(qtbot, settings)
        assert window.headline.text() == PRESETS[0].name  # nothing remembered yet
        window.controls.preset.setCurrentIndex(2)
        window.controls.dark.setChecked(True)
        assert window.charts.chart_style.background != "#FFFFFF"
        await close_window(window)

        again = await open_window(qtbot, QSettings(settings_file, QSettings.Format.IniFormat))
        assert again.headline.text() == PRESETS[2].name
        assert again.session.threads == PRESETS[2].threads
        assert again.controls.dark.isChecked()
        assert again.charts.chart_style.background != "#FFFFFF"
        await close_window(again)

    run_on_qt_loop(body())


def test_save_charts_as_png(qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        target = tmp_path / "charts.png"
        assert window.save_charts_png(target)
        image = QImage(str(target))
        assert image.width() > 400 and image.height() > 300
        assert "Charts saved" in window.controls.status.text()
        # A place that cannot be written: a message, not a traceback.
        assert not window.save_charts_png(tmp_path / "missing-dir" / "charts.png")
        assert "Could not save" in window.controls.status.text()
        await close_window(window)

    run_on_qt_loop(body())


def test_every_preset_has_an_explanation_card(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        for index, preset in enumerate(PRESETS):
            window.controls.preset.setCurrentIndex(index)
            text = window.controls.explanation.text()
            assert text.startswith("Watch:") and "Theory:" in text and "Why:" in text
            assert set(window.session.scenarios) == set(preset.scenarios)
        await close_window(window)

    run_on_qt_loop(body())
