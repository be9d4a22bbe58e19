"""FTP server for the fetch tests: pyftpdlib on 127.0.0.1, passive mode, one user.

Usage: ftp_server.py ROOT USER PASSWORD LOG [--no-mlsd]
Prints "PORT <n>" once listening; appends every command it receives to LOG (one a line,
PASS masked); ends when its standard input closes or it is terminated.
"""
import logging
import sys
import threading

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer


def main():
    root, user, password, log_path = sys.argv[1:5]
    no_mlsd = "--no-mlsd" in sys.argv[5:]
    config_logging(level=logging.WARNING)  # the command log above is what tests read

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elr")

    class Handler(FTPHandler):
        def pre_process_command(self, line, cmd, arg):
            with open(log_path, "a") as log:
                log.write(("PASS ***" if cmd == "PASS" else line) + "\n")
            return super().pre_process_command(line, cmd, arg)

    Handler.authorizer = authorizer
    Handler.passive_ports = None
    if no_mlsd:
        # A server that only knows LIST and NLST (and MDTM, SIZE).
        Handler.proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k not in ("MLSD", "MLST")}
    server = FTPServer(("127.0.0.1", 0), Handler)
    server.max_cons = 64
    print("PORT %d" % server.address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        server.close_all()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever(timeout=0.2, blocking=True, handle_exit=True)
    except Exception:
        pass


if __name__ == "__main__":
    main()
