"""HTTPS server for the fetch tests: Python's http.server behind TLS on 127.0.0.1.

Usage: https_server.py ROOT CERT KEY
Serves ROOT (directory listings, Last-Modified and If-Modified-Since) with the given
certificate; prints "PORT <n>" once listening; ends when its standard input closes.
"""
import functools
import http.server
import ssl
import sys
import threading


def main():
    root, cert, key = sys.argv[1:4]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.func.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
