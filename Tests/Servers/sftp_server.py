"""SFTP server for the fetch tests: asyncssh on 127.0.0.1, serving ROOT read-only.

Usage: sftp_server.py ROOT USER PASSWORD CLIENT_PUBKEY KNOWN_HOSTS
Accepts USER with PASSWORD, or with the private key matching CLIENT_PUBKEY (OpenSSH
format). Generates an ECDSA host key and writes it to KNOWN_HOSTS as
"[127.0.0.1]:PORT ..." so the client can verify it. Prints "PORT <n>" once listening;
ends when its standard input closes.
"""
import asyncio
import sys

import asyncssh


def main():
    root, user, password, client_pubkey, known_hosts = sys.argv[1:6]
    asyncssh.set_log_level("WARNING")
    host_key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    authorized = asyncssh.import_authorized_keys(open(client_pubkey).read())

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username):
            return True

        def password_auth_supported(self):
            return True

        def validate_password(self, username, pw):
            return username == user and pw == password

        def public_key_auth_supported(self):
            return True

        def validate_public_key(self, username, key):
            return username == user and authorized.validate(key, "127.0.0.1", "127.0.0.1") is not None

    class ReadOnlySFTP(asyncssh.SFTPServer):
        def __init__(self, chan):
            super().__init__(chan, chroot=root)

    async def run():
        server = await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[host_key], server_factory=Server,
            sftp_factory=ReadOnlySFTP, allow_scp=False)
        port = server.sockets[0].getsockname()[1]
        line = host_key.export_public_key("openssh").decode().split()
        with open(known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (port, line[0], line[1]))
        print("PORT %d" % port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
