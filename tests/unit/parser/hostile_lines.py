"""Log lines as each daemon writes them, with the client's text (username, password) put in where the daemon
puts it: shared by the forged-address properties and the seeded fuzz run. Each builder returns the line;
the real address is always REAL."""

from __future__ import annotations

from typing import Callable

REAL = "203.0.113.66"
H = "Nov 26 08:00:00 mail "


def dovecot_user(user: str) -> str:
    """A username as Dovecot's auth log prefix writes it: control characters as "?", at most 64 bytes
    (here: characters, which is never more), then "..." (src/auth/auth-request.c, get_log_prefix)."""
    user = "".join("?" if ord(c) < 32 else c for c in user)
    return user if len(user) <= 64 else user[:64] + "..."


def passdb(user: str, password: str, ip: str = REAL) -> str:
    """passdb failure with auth_verbose_passwords=plain: the client's password after the message."""
    prefix = f"{H}dovecot: auth: passwd-file({dovecot_user(user)},{ip})"
    return f"{prefix}: Password mismatch (given password: {password})"


def passdb_plain(user: str, _password: str, ip: str = REAL) -> str:
    return f"{H}dovecot: auth: sql({dovecot_user(user)},{ip},<Ab12Cd34>): unknown user"


def passdb_pam(user: str, _password: str, ip: str = REAL) -> str:
    return (
        f"{H}dovecot: auth-worker(7): pam({dovecot_user(user)},{ip}): pam_authenticate() failed:"
        " Authentication failure (password mismatch?)"
    )


def passdb24(user: str, password: str, ip: str = REAL) -> str:
    """Dovecot 2.4's passdb failure with auth_verbose_passwords=plain: the passdb named after the prefix."""
    prefix = f"{H}dovecot: auth({dovecot_user(user)},{ip},sasl:plain)<Ab12Cd34>: passwd-file"
    return f"{prefix}: Password mismatch (given password: {password})"


def passdb24_worker(user: str, _password: str, ip: str = REAL) -> str:
    """Dovecot 2.4's auth worker: its pid and the request's number in the prefix."""
    return (
        f"{H}dovecot: auth-worker({dovecot_user(user)},{ip})<2559><Ab12Cd34>: request [1]: pam:"
        " pam_authenticate() failed: Authentication failure (Password mismatch?)"
    )


def passdb24_lookup(user: str, _password: str, ip: str = REAL) -> str:
    """A Dovecot 2.4 auth line of a request that is no failure (auth_debug): the username in its prefix."""
    return (
        f"{H}dovecot: auth({dovecot_user(user)},{ip},sasl:plain)<Ab12Cd34>: passwd-file: lookup: user=x"
        " file=/etc/dovecot/users"
    )


def passdb24_own(user: str, password: str, ip: str = REAL) -> str:
    """Dovecot 2.4's failure in its own log file (log_path): its prefix where a syslog header would be."""
    return (
        f"Nov 26 08:00:00 auth({dovecot_user(user)},{ip},sasl:plain): Info: passwd-file: Password mismatch"
        f" (given password: {password})"
    )


def passdb_worker_lookup(user: str, _password: str, ip: str = REAL) -> str:
    """An older auth worker's line that is no failure (auth_debug): the username in the passdb's prefix."""
    return f"{H}dovecot: auth-worker(7): pam({dovecot_user(user)},{ip}): lookup service=dovecot"


def passdb_lookup(user: str, _password: str, ip: str = REAL) -> str:
    """An older auth process line that is no failure (auth_debug)."""
    return f"{H}dovecot: auth: passwd-file({dovecot_user(user)},{ip}): lookup: user=x file=/etc/dovecot/users"


def logged_in24(user: str, _password: str, ip: str = REAL) -> str:
    return f"{H}dovecot: imap-login: Logged in: user=<{user}>, method=PLAIN, rip={ip}, lip=10.0.0.2, mpid=9"


PAM = "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser="


def pam_ruser(user: str, _password: str, ip: str = REAL) -> str:
    """pam_unix with ruser and user both the client's name ("ruser=%s rhost=%s %s%s")."""
    return f"{H}{PAM}{user} rhost={ip}  user={user}" if user else f"{H}{PAM} rhost={ip} "


def pam_no_ruser(user: str, _password: str, ip: str = REAL) -> str:
    """pam_unix from a Dovecot that leaves ruser empty."""
    return f"{H}{PAM} rhost={ip}  user={user}" if user else f"{H}{PAM} rhost={ip} "


def login_failure(user: str, _password: str, ip: str = REAL) -> str:
    return (
        f"{H}dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{user}>,"
        f" method=PLAIN, rip={ip}, lip=10.0.0.2, TLS, session=<Ab12>"
    )


def login_success(user: str, _password: str, ip: str = REAL) -> str:
    return f"{H}dovecot: pop3-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=10.0.0.2, mpid=9"


def smtpd_failure(user: str, _password: str, ip: str = REAL) -> str:
    return (
        f"{H}postfix/smtpd[12]: warning: unknown[{ip}]: SASL LOGIN authentication failed:"
        f" UGFzc3dvcmQ6, sasl_username={user}"
    )


def smtpd_success(user: str, _password: str, ip: str = REAL) -> str:
    return f"{H}postfix/smtpd[12]: 4AB3: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={user}"


def plesk(user: str, _password: str, _ip: str = REAL) -> str:
    return f"{H}plesk_saslauthd[4]: failed mail authenticatication attempt for user '{user}' (password len=6)"


# builder -> whether a password appears in its line
BUILDERS: dict[Callable[..., str], bool] = {
    passdb: True,
    passdb_plain: False,
    passdb_pam: False,
    passdb24: True,
    passdb24_worker: False,
    passdb24_lookup: False,
    passdb24_own: True,
    passdb_worker_lookup: False,
    passdb_lookup: False,
    logged_in24: False,
    pam_ruser: False,
    pam_no_ruser: False,
    login_failure: False,
    login_success: False,
    smtpd_failure: False,
    smtpd_success: False,
    plesk: False,
}

# the pieces of client text that matter to the parsers: field names, separators, addresses
PIECES = [
    *",<>()[]:= '\".",
    "6.6.6.6", "198.51.100.7", "::ffff:6.6.6.6", "2001:db8::6",
    "rip=", ", rip=", " rhost=", "  user=", "user=", "): ", ",<S1>", ",master", "): unknown user",
    "): Password mismatch", "): Password mismatch (", "(given password: ", "): pam_authenticate() failed: ",
    ", sasl_username=", ">, method=PLAIN, rip=", "unknown[6.6.6.6]", "' (password len=1)",
    "(auth failed, 9 attempts)", "pam_unix(dovecot:auth): authentication failure; ", " tty=dovecot ruser=",
    "Login: ", "\x1b[31m", "\udcff",
    # whole attack shapes (the properties then meet them often, not once in a million draws)
    ",6.6.6.6): Password mismatch (", ",6.6.6.6,<S1>): unknown user (", " rhost=6.6.6.6  user=",
    ", rip=6.6.6.6", "x rhost=6.6.6.6", ",6.6.6.6): pam_authenticate() failed: ",
    ",6.6.6.6,sasl:plain)<S1>: passwd-file: Password mismatch (", ",6.6.6.6)<1><S1>: request [1]: pam: ",
    ": p: unknown user", "Logged in: ",
    # a failure of the other form (or of its own) planted in the username of a line (review of 0a0f024)
    "a): pam(x,6.6.6.6): Password mismatch (", ",6.6.6.6): p: Password mismatch (", "7): pam(",
    ",6.6.6.6)<S1>: p: Password mismatch (", ",7.7.7.7): unknown user (",
]  # fmt: skip
