#!/usr/bin/python3
"""A real SMTP server for tests and the demo, on aiosmtpd.

    smtp_sink.py --port 0 --control-port 0 [--tls-cert F --tls-key F]
                 [--implicit-tls] [--auth user:pass] [--require-starttls]

Prints one line "smtp_sink ready smtp=<port> control=<port>" when both ports
listen. Accepts every message, except for fault recipients (by local part):
    fail-NNN[-x.y.z]@...   answers "NNN [x.y.z] ..." to RCPT TO; 421 also
                           closes the connection, as RFC 5321 §3.8 says
    faildata-NNN[-x.y.z]@  accepts RCPT TO, answers NNN to the end of DATA
                           (a content rejection; the message is not kept)
    drop@...               closes the connection instead of answering RCPT
    slow-MS@...            answers the end of DATA MS milliseconds late
With --tls-cert/--tls-key it offers STARTTLS (--require-starttls: refuses
mail before it); with --implicit-tls it speaks TLS from the first byte
(smtps). --auth requires AUTH (PLAIN or LOGIN) with these credentials.

Control (HTTP on 127.0.0.1):
    GET  /stats           {"connections", "messages", "rejected"}
    GET  /messages[?raw=1] [{"mail_from", "rcpt_tos", "headers", "text",
                             "html", "raw_size"[, "raw"]}], oldest first;
                           headers decoded (RFC 2047), the first of each
                           name; text and html decoded, line ends as sent
    POST /reset           zeroes the counters and forgets the messages
Messages are kept raw and parsed only when asked for, so accepting one costs
little; the newest --keep (default 10000) are kept.

SIGTERM or SIGINT stops it (exit 0).
"""

import argparse
import asyncio
import collections
import json
import logging
import re
import signal
import socket
import ssl
import sys
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

FAIL = re.compile(r"^fail(data)?-([2-5][0-9][0-9])(?:-([245]\.[0-9]{1,3}\.[0-9]{1,3}))?$",
                  re.I)
SLOW = re.compile(r"^slow-([0-9]+)$", re.I)


class State:
    def __init__(self, keep):
        self.lock = threading.Lock()
        self.connections = 0
        self.messages = 0
        self.rejected = 0
        self.stored = collections.deque(maxlen=keep)

    def reset(self):
        with self.lock:
            self.connections = 0
            self.messages = 0
            self.rejected = 0
            self.stored.clear()


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


class FaultHandler:
    def __init__(self, state):
        self.state = state

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        fail = FAIL.match(local)
        if fail and not fail.group(1):
            return self.reject(server, fail, address)
        if local == "drop":
            with self.state.lock:
                self.state.rejected += 1
            server.transport.abort()
            # aiosmtpd pushes this into the closed transport, where it is lost.
            return "421 4.4.2 dropped"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def reject(self, server, fail, address):
        code, enhanced = fail.group(2), fail.group(3)
        with self.state.lock:
            self.state.rejected += 1
        if code == "421":
            # Closes after the reply is written (push runs before this).
            asyncio.get_running_loop().call_soon(server.transport.close)
        words = [code] + ([enhanced] if enhanced else [])
        return " ".join(words + [f"fault injected for <{address}>"])

    async def handle_DATA(self, server, session, envelope):
        delay = 0
        for rcpt in envelope.rcpt_tos:
            slow = SLOW.match(local_part(rcpt))
            if slow:
                delay = max(delay, int(slow.group(1)))
        if delay:
            await asyncio.sleep(delay / 1000)
        for rcpt in envelope.rcpt_tos:
            fail = FAIL.match(local_part(rcpt))
            if fail and fail.group(1):
                return self.reject(server, fail, rcpt)
        with self.state.lock:
            self.state.messages += 1
            number = self.state.messages
            self.state.stored.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return f"250 2.0.0 OK queued as {number}"


class CountingSMTP(SMTP):
    state = None

    def connection_made(self, transport):
        # STARTTLS calls this again for the same session: count the first.
        if self.transport is None:
            with self.state.lock:
                self.state.connections += 1
        super().connection_made(transport)


class SinkController(Controller):
    """Serves a socket bound beforehand, so port 0 works and the port is known."""

    def __init__(self, handler, sock, state, **kwargs):
        self._sock = sock
        self._state = state
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock,
                                       ssl=self.ssl_context, backlog=128)

    def factory(self):
        smtp = CountingSMTP(self.handler, **self.SMTP_kwargs)
        smtp.state = self._state
        return smtp


def decoded(part):
    if part is None:
        return None
    payload = part.get_payload(decode=True) or b""
    return payload.decode(part.get_content_charset("utf-8"), "replace")


def parse(mail_from, rcpt_tos, raw, with_raw):
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name, str(value))
    out = {
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "headers": headers,
        "text": decoded(msg.get_body(preferencelist=("plain",))),
        "html": decoded(msg.get_body(preferencelist=("html",))),
        "raw_size": len(raw),
    }
    if with_raw:
        out["raw"] = raw.decode("utf-8", "replace")
    return out


def control_server(port, state):
    class Control(BaseHTTPRequestHandler):
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path == "/stats":
                with state.lock:
                    body = {"connections": state.connections, "messages": state.messages,
                            "rejected": state.rejected}
                return self.reply(200, body)
            if url.path == "/messages":
                with_raw = parse_qs(url.query).get("raw") == ["1"]
                with state.lock:
                    stored = list(state.stored)
                return self.reply(200, [parse(f, t, r, with_raw) for f, t, r in stored])
            self.reply(404, {"error": "not found"})

        def do_POST(self):
            if urlparse(self.path).path == "/reset":
                state.reset()
                return self.reply(200, {"ok": True})
            self.reply(404, {"error": "not found"})

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Control)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--auth", help="user:pass")
    ap.add_argument("--require-starttls", action="store_true")
    ap.add_argument("--keep", type=int, default=10000)
    args = ap.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if (args.implicit_tls or args.require_starttls) and not args.tls_cert:
        ap.error("TLS options need --tls-cert and --tls-key")
    # aiosmtpd logs every command at INFO and every dropped session as an
    # error; the tests read their own output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    state = State(args.keep)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    # server_hostname: the name in the greeting (without it aiosmtpd asks
    # the resolver for this host's FQDN on every connection).
    smtp_kwargs = {"ident": "herald smtp_sink"}
    controller_kwargs = {"server_hostname": "smtp-sink.test"}
    if args.implicit_tls:
        controller_kwargs["ssl_context"] = tls
    elif tls:
        smtp_kwargs["tls_context"] = tls
        smtp_kwargs["require_starttls"] = args.require_starttls
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login == user.encode()
                  and auth_data.password == password.encode())
            # handled=False: aiosmtpd then answers 535 itself (its default,
            # handled=True, means "already answered" and leaves the client
            # waiting).
            return AuthResult(success=ok, handled=False)

        smtp_kwargs["authenticator"] = authenticator
        smtp_kwargs["auth_required"] = True
        # aiosmtpd only counts STARTTLS as TLS; implicit TLS is TLS too.
        smtp_kwargs["auth_require_tls"] = not args.implicit_tls

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    sock.setblocking(False)
    controller = SinkController(FaultHandler(state), sock, state,
                                **controller_kwargs, **smtp_kwargs)
    controller.start()
    # start() opened a connection of its own to check the server.
    state.reset()

    control = control_server(args.control_port, state)
    threading.Thread(target=control.serve_forever, daemon=True).start()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"smtp_sink ready smtp={controller.port} control={control.server_address[1]}",
          flush=True)
    stop.wait()
    control.shutdown()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
