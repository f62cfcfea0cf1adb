"""A workload a signal handler interrupts: an interval timer (0.2 s) firing during a sleep
(0.5 s) and during a busy loop, each SIGALRM handled by Python, then the timer stopped.

The sleep's clock_nanosleep returns EINTR to the handler's rt_sigreturn (Python restarts
the sleep itself); the busy loop is interrupted outside any syscall. verify must see no
refusal in either (tests/test_verify_judging.py)."""

import signal
import time

ticks = 0


def on_alarm(signum, frame):
    global ticks
    ticks += 1


signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)
time.sleep(0.5)
deadline = time.monotonic() + 0.5
x = 0
while time.monotonic() < deadline:
    x += 1
signal.setitimer(signal.ITIMER_REAL, 0)
assert ticks >= 2, ticks
