"""A real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) for the watcher's
benchmark: accepts every mail and writes one line per mail to OUTFILE, the
time it was accepted (microseconds since the Unix epoch) and its subject.

    /usr/bin/python3 bench/smtp_recorder.py PORT OUTFILE
"""
import email
import sys
import time

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path):
        self.out = open(path, "a", buffering=1)

    async def handle_DATA(self, server, session, envelope):
        accepted = time.time_ns() // 1000
        subject = email.message_from_bytes(envelope.content).get("Subject", "")
        self.out.write(f"{accepted} {subject}\n")
        return "250 OK"


port, path = int(sys.argv[1]), sys.argv[2]
controller = Controller(Recorder(path), hostname="127.0.0.1", port=port)
controller.start()
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
