"""Login at small scale: the GUI thread keeps running while the mail server stalls; the
password is hashed once per login; security codes name their scrypt cost."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from pmdesk.core import codes
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.context import CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.passwords import Passwords
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import add_user, cheap_passwords, enable_two_factor, set_security
from tests.helpers.smtp import SmtpServer, _BoundController, _listening_socket, _Recorder

STALL_S = 0.6


class _SlowRecorder(_Recorder):
    """Answers DATA only after a pause, and notes when the pause began and ended."""

    stalls: list[tuple[float, float]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        began = time.perf_counter()
        await asyncio.sleep(STALL_S)
        answer = await super().handle_DATA(server, session, envelope)
        self.stalls.append((began, time.perf_counter()))
        return answer


@pytest.fixture
def slow_mail_server() -> Iterator[tuple[SmtpServer, _SlowRecorder]]:
    sock = _listening_socket()
    server = SmtpServer(host="127.0.0.1", port=sock.getsockname()[1])
    recorder = _SlowRecorder(server)
    recorder.stalls = []
    controller = _BoundController(recorder, sock)
    controller.start()
    yield server, recorder
    controller.stop()


# It counts timer ticks during the stall: another worker loading both cores starves them.
@pytest.mark.alone
def test_the_gui_thread_keeps_running_while_the_mail_server_stalls(
    qtbot: QtBot,
    ctx: CoreContext,
    tasks: TaskManager,
    slow_mail_server: tuple[SmtpServer, _SlowRecorder],
) -> None:
    server, recorder = slow_mail_server
    add_user(ctx, "jsmets", "correct horse 42", email="jsmets@insypro.com")
    enable_two_factor(ctx)
    set_security(
        ctx,
        delivery_method="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        smtp_from="security@workshop.example",
    )

    def delivery(settings: DeliverySettings) -> Any:
        return delivery_for(settings, ctx.secrets, ctx.outbox_default)

    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.set_backend(LoginService(ctx, delivery_factory=delivery, passwords=cheap_passwords()))
    dialog.show()
    qtbot.waitExposed(dialog)
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()

    qtbot.keyClicks(dialog.username_edit, "jsmets")
    qtbot.keyClicks(dialog.password_edit, "correct horse 42")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: bool(server.received) and dialog.step != dialog.CREDENTIALS, timeout=20_000
    )
    signed: list[object] = []
    dialog.signed_in.connect(signed.append)
    qtbot.keyClicks(dialog.code_edit, server.received[-1].code)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(signed), timeout=20_000)
    timer.stop()

    assert len(recorder.stalls) == 1
    began, ended = recorder.stalls[0]
    during = [t for t in ticks if began <= t <= ended]
    # The timer kept firing while the mail server sat on the message: the dialog was never
    # waiting for it (at 10 ms a tick, a blocked thread would show none at all).
    assert len(during) >= 5
    assert isinstance(signed[0], SignedIn)


class _CountingPasswords(Passwords):
    def __init__(self) -> None:
        super().__init__(cheap_passwords()._hasher)
        self.verified = 0
        self.hashed = 0

    def verify(self, stored_hash: str | None, password: str) -> bool:
        self.verified += 1
        return super().verify(stored_hash, password)

    def hash(self, password: str) -> str:
        self.hashed += 1
        return super().hash(password)


def test_a_two_step_login_hashes_the_password_once(ctx: CoreContext, tmp_path: Path) -> None:
    counting = _CountingPasswords()
    add_user(ctx, "jsmets", "correct horse 42", passwords=counting)
    enable_two_factor(ctx, delivery_method="outbox", outbox_folder=str(tmp_path / "outbox"))
    counting.hashed = 0
    service = LoginService(ctx, passwords=counting)
    first = service.begin("jsmets", "correct horse 42")
    assert isinstance(first, CodeNeeded) and first.delivery_error is None
    mail = next((tmp_path / "outbox").glob("*.eml")).read_text(encoding="utf-8")
    code = next(line.strip() for line in mail.splitlines() if codes.well_formed(line.strip()))
    assert isinstance(service.verify(first.challenge_id, code, False), SignedIn)
    assert (counting.verified, counting.hashed) == (1, 0)


def test_a_code_hash_names_its_cost_and_older_hashes_still_match() -> None:
    stored = codes.hash_code("042137")
    assert stored.startswith(f"n{codes._SCRYPT_N}$")
    assert codes.code_matches("042137", stored)
    assert not codes.code_matches("042138", stored)
    # Made before the cost was named (N = 2^14): a code in flight during an upgrade.
    salt = secrets.token_bytes(16)
    legacy = hashlib.scrypt(b"042137", salt=salt, n=2**14, r=8, p=1, dklen=32, maxmem=2**26)
    assert codes.code_matches("042137", f"{salt.hex()}${legacy.hex()}")
    # A cost nobody would choose is refused, never computed.
    assert not codes.code_matches("042137", f"n{2**30}${salt.hex()}${legacy.hex()}")
    assert not codes.code_matches("042137", f"n1000${salt.hex()}${legacy.hex()}")
