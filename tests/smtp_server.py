"""A real SMTP server on loopback for the tests: it speaks the few commands ``smtplib`` sends (RFC 5321)
and keeps every message it receives, so a test reads what was really e-mailed."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import socketserver
import threading
from email.message import EmailMessage


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 loopback ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self._reply("250 loopback")
            elif verb == b"DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while (part := self.rfile.readline()) not in (b".\r\n", b""):
                    data += part[1:] if part.startswith(b"..") else part
                message = email.message_from_bytes(bytes(data), policy=email.policy.default)
                with self.server.lock:
                    self.server.messages.append(message)  # type: ignore[arg-type]
                self._reply("250 OK")
            elif verb == b"QUIT":
                self._reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self._reply("250 OK")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()


class LoopbackSMTP:
    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self._server.server_address[1]}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._server.lock:
            return list(self._server.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def last_code(self, address: str) -> str:
        """The six-digit code of the last message sent to ``address``."""
        # The code ends its line (« … chez Acme : 123456 »); names and links may hold other digits.
        (code,) = re.findall(r"(?<![\d\w])(\d{6})[ \t\r]*$", self.to(address)[-1].get_content(), re.M)
        return code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class SmtpServer:
    """A minimal SMTP server: while ``refuse`` is set it greets with 554 (smtplib raises), else it takes
    the message and keeps it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.refuse = True
        self.received: list[tuple[list[str], str]] = []
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self.connections += 1
                if self.refuse:
                    conn.sendall(b"554 service refused\r\n")
                    continue
                conn.sendall(b"220 test ESMTP\r\n")
                rcpt: list[str] = []
                while line := reader.readline():
                    command = line.decode().strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        conn.sendall(b"250 test\r\n")
                    elif verb == "RCPT":
                        rcpt.append(command.split(":", 1)[1].strip("<> "))
                        conn.sendall(b"250 ok\r\n")
                    elif verb == "DATA":
                        conn.sendall(b"354 go\r\n")
                        data = []
                        while (chunk := reader.readline()) not in (b".\r\n", b""):
                            data.append(chunk.decode())
                        self.received.append((rcpt, "".join(data)))
                        conn.sendall(b"250 queued\r\n")
                    elif verb == "QUIT":
                        conn.sendall(b"221 bye\r\n")
                        break
                    else:
                        conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.sock.close()
