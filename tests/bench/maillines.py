"""The texts of the mail log lines the generators write (genlog.py: bench traffic; known_clients_log.py: the
labelled known-clients log), each daemon's wording once, in Debian 12's Postfix and Dovecot formats (see
../shared/ENVIRONMENT.md) and, where a ``*24`` function stands beside one, Debian 13's Dovecot 2.4 (recorded
from a trixie container: tests/data/parser/dovecot.cases). A line here is the message after the syslog header;
the generators choose the values (addresses, users, times) and keep their truth."""

from __future__ import annotations

HOST = "mail"
LIP = "192.0.2.10"  # the server's own address (Dovecot's lip=)


def dovecot_login(proto: str, user: str, ip: str, mpid: int, session: str) -> str:
    """A successful Dovecot login (``imap``, ``pop3``, ...)."""
    return (
        f"dovecot: {proto}-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip={LIP}, "
        f"mpid={mpid}, TLS, session=<{session}>"
    )


def dovecot_login24(proto: str, user: str, ip: str, mpid: int, session: str) -> str:
    """``dovecot_login`` as Dovecot 2.4 writes it."""
    return (
        f"dovecot: {proto}-login: Logged in: user=<{user}>, method=PLAIN, rip={ip}, lip={LIP}, "
        f"mpid={mpid}, secured, session=<{session}>"
    )


def dovecot_auth24(
    passdb: str, user: str, ip: str, why: str, session: str = "", *, mech: str = "plain"
) -> str:
    """``dovecot_auth`` as Dovecot 2.4 writes it: the passdb's name after the prefix (a SASL request of
    Postfix has no session)."""
    tail = f"<{session}>" if session else ""
    return f"dovecot: auth({user},{ip},sasl:{mech}){tail}: {passdb}: {why}"


def dovecot_auth_failed24(
    proto: str, how: str, *, attempts: int, secs: int, user: str, ip: str, session: str
) -> str:
    """``dovecot_auth_failed`` as Dovecot 2.4 writes it ("Login aborted: ...")."""
    return (
        f"dovecot: {proto}-login: Login aborted: {how} (auth failed, {attempts} attempts in {secs} secs) "
        f"(auth_failed): user=<{user}>, method=PLAIN, rip={ip}, lip={LIP}, secured, session=<{session}>"
    )


def dovecot_auth(driver: str, user: str, ip: str, why: str, session: str = "") -> str:
    """Dovecot's auth process naming a failed password check (``passwd-file``, ``sql``)."""
    tail = f",<{session}>" if session else ""
    return f"dovecot: auth: {driver}({user},{ip}{tail}): {why}"


def dovecot_auth_failed(
    proto: str, how: str, *, attempts: int, secs: int, user: str, ip: str, session: str
) -> str:
    """The login process's summary of a connection whose logins failed."""
    return (
        f"dovecot: {proto}-login: {how} (auth failed, {attempts} attempts in {secs} secs): "
        f"user=<{user}>, method=PLAIN, rip={ip}, lip={LIP}, TLS, session=<{session}>"
    )


def smtpd_sasl_failed(prefix: str, client: str, mech: str, reason: str) -> str:
    """smtpd's warning for a failed AUTH (``prefix``: ``service[pid]: ``, ``client``: ``name[ip]``)."""
    return f"{prefix}warning: {client}: SASL {mech} authentication failed: {reason}"


def smtpd_sasl_client(prefix: str, qid: str, client: str, user: str) -> str:
    """Postfix smtpd's line for a message submitted after a successful AUTH."""
    return f"{prefix}{qid}: client={client}, sasl_method=PLAIN, sasl_username={user}"
