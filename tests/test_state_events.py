"""The Qt-free states' change notification."""

from __future__ import annotations

from cnnviz.state.events import Event


def test_emit_calls_every_callback_in_order_with_the_arguments():
    calls = []
    ev = Event()
    ev.connect(lambda *a: calls.append(("first", a)))
    ev.connect(lambda *a: calls.append(("second", a)))
    ev.emit("walk", 3)
    assert calls == [("first", ("walk", 3)), ("second", ("walk", 3))]
    assert len(ev) == 2


def test_disconnect_and_unknown_callbacks():
    calls = []
    ev = Event()
    cb = ev.connect(calls.append)
    ev.disconnect(cb)
    ev.disconnect(cb)  # a second disconnect is ignored
    ev.emit(1)
    assert calls == []


def test_blocked_is_nested_and_restored_after_an_exception():
    calls = []
    ev = Event()
    ev.connect(calls.append)
    try:
        with ev.blocked():
            with ev.blocked():
                ev.emit(1)
            ev.emit(2)
            raise ValueError
    except ValueError:
        pass
    ev.emit(3)
    assert calls == [3]


def test_a_callback_may_disconnect_itself_while_emitting():
    calls = []
    ev = Event()

    def once(x):
        calls.append(x)
        ev.disconnect(once)

    ev.connect(once)
    ev.emit(1)
    ev.emit(2)
    assert calls == [1]
